"""Management commands on odd input or with a service down: a non-zero exit
and ONE readable line on stderr, never a traceback; nothing stored."""

import os
import pty
import select
import subprocess
import sys
import time
from functools import partial
from typing import IO

import pytest
from django.db import connection

from tests.platform import forkstart
from tests.platform.conftest import MANAGE, ROOT, side_by_side

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SECRET_PASSWORD = "pw-never-printed-7f3a"


def _env(
    *, port: object = None, password: str | None = None, name: str | None = None
) -> dict[str, str]:
    s = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=(
            f"postgres://{s['USER']}:{password or s['PASSWORD']}@{s['HOST']}:"
            f"{port or s['PORT'] or 5432}/{name or s['NAME']}"
        ),
    )
    return env


def _manage(*args: str | bytes, env: dict[str, str] | None = None):
    if all(isinstance(arg, str) for arg in args):
        # Forked: the same fresh start, without the libraries' imports (forkstart).
        return forkstart.manage(*args, env=env or _env(), timeout=120, text=False)
    # bytes: what a shell passes, whatever the terminal's encoding; decoded
    # by a new interpreter, as in use.
    return subprocess.run(
        [sys.executable, MANAGE, *args],
        env=env or _env(),
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )


def _forked_bytes(*args: bytes, env: dict[str, str]):
    """``_manage`` of bytes arguments, forked: each decoded as the new
    interpreter decodes its argv (the locale's encoding, surrogateescape:
    os.fsdecode in this process, whose environment the child's locale is)."""
    return _manage(*map(os.fsdecode, args), env=env)


def _one_line(result: subprocess.CompletedProcess) -> str:
    err = result.stderr.decode("utf-8", "replace")
    # JSON log lines are the log's, one record a line: no traceback in them.
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert result.returncode != 0
    assert "Traceback" not in err, err[-800:]
    said = [ln for ln in lines if not ln.startswith('{"ts"')]
    assert len(said) == 1, said[-5:]
    return said[0]


NOT_UTF8 = [
    [b"revoke_api_key", b"\xff"],
    [b"create_api_key", b"--name", b"caf\xe9", b"--scopes", b"payments:read"],
    [b"refresh_tracking", b"shp_\xff"],
    [b"sync_inventory", b"--account", b"\xff"],
    [b"create_purchase_orders", b"--sku", b"\xff"],
    [b"send_bulk", b"--cancel", b"bulk_\xff"],
]
CONTROL_CHARACTERS = [b"a\x1bb", b"\x01"]
UNREACHABLE = [
    ["batch_jobs"],
    ["revoke_api_key", "abc"],
    ["create_api_key", "--name", "x", "--scopes", "payments:read"],
    ["check_integrations", "--cached"],
    ["prune_idempotency_keys"],
]
PORTLESS = ["127.0.0.1:notaport", "127.0.0.1:", "h:99999"]


@pytest.fixture(scope="module")
def refused(django_db_setup) -> dict:
    """The command lines below that are refused before they store anything,
    run side by side once, by their arguments; the ones given a database that
    is not there by ``("unreachable", *arguments)``; ``revoke_api_key -``
    given bad or no standard input by ``("stdin", what was piped)`` (None:
    stdin closed; "ctrl-d": typed at a terminal prompt)."""
    here, gone = _env(), _env(port=1, password=SECRET_PASSWORD)
    # The first as a shell starts it, a new interpreter decoding the bytes;
    # the rest forked, decoded the same way here (a start each saved).
    first, *rest = NOT_UTF8
    calls = {tuple(first): partial(_manage, *first, env=here)}
    calls |= {tuple(args): partial(_forked_bytes, *args, env=here) for args in rest}
    for arg in CONTROL_CHARACTERS:
        calls[(b"check", arg)] = partial(_forked_bytes, b"check", arg, env=here)
    for addr in PORTLESS:
        args = ("serve", "--addr", addr, "--stop-timeout", "2")
        calls[args] = partial(_manage, *args, env=here)
    for args in UNREACHABLE:
        calls[("unreachable", *args)] = partial(_manage, *args, env=gone)
    for typed in BAD_STDIN:
        calls[("stdin", typed)] = partial(_revoke_reading, typed, env=here)
    calls[("stdin", None)] = partial(_revoke_with_stdin_closed, env=here)
    calls[("stdin", "ctrl-d")] = partial(_revoke_ctrl_d_at_the_prompt, env=here)
    return side_by_side(calls)


BAD_STDIN = [b"", b"caf\xe9\n"]


def _revoke_reading(typed: bytes, env: dict[str, str]):
    """``revoke_api_key -`` with ``typed`` piped in, a new interpreter."""
    return subprocess.run(
        [sys.executable, MANAGE, "revoke_api_key", "-"],
        input=typed,
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )


def _revoke_with_stdin_closed(env: dict[str, str]):
    # ``<&-``: Python starts with sys.stdin None.
    return subprocess.run(
        ["sh", "-c", 'exec "$0" "$1" revoke_api_key - <&-', sys.executable, MANAGE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_batch_jobs_refuses_a_limit_beyond_what_it_lists():
    line = _one_line(_manage("batch_jobs", "list", "--limit", "9" * 20))
    assert "--limit must be at most" in line


@pytest.mark.parametrize(
    ("option", "value"), [("--chunk-size", "2147483648"), ("--workers", "65")]
)
def test_send_bulk_refuses_a_chunk_size_or_worker_count_out_of_range(
    tmp_path, option, value
):
    from notifications.models import BulkSend

    csv = tmp_path / "r.csv"
    csv.write_text("email\na@example.com\n")
    context = '{"headline": "h", "body": "b"}'
    args = ("newsletter", str(csv), "--no-wait", "--context", context)

    line = _one_line(_manage("send_bulk", *args, option, value))

    assert f"{option} must be between 1 and" in line
    assert not BulkSend.objects.exists()


def test_revoke_api_key_reads_the_key_piped_on_stdin():
    from tests.factories import ApiKeyFactory

    key = ApiKeyFactory()
    result = _revoke_reading(f"{key.raw_key}\n".encode(), env=_env())
    assert result.returncode == 0, result.stderr.decode()[-400:]
    assert key.raw_key.encode() not in result.stdout + result.stderr
    key.refresh_from_db()
    assert key.revoked_at is not None


@pytest.mark.parametrize("typed", BAD_STDIN, ids=["empty", "latin1"])
def test_revoke_api_key_refuses_bad_stdin_in_one_line(refused, typed):
    line = _one_line(refused[("stdin", typed)])
    assert "standard input" in line


def test_revoke_api_key_with_stdin_closed_is_one_line(refused):
    assert "No key on standard input" in _one_line(refused[("stdin", None)])


def _until_prompt(stream: IO[bytes], prompt: bytes, seconds: float) -> bytes:
    """What ``stream`` says up to and with ``prompt`` (or until it ends)."""
    said = b""
    poller = select.poll()
    poller.register(stream, select.POLLIN)
    deadline = time.monotonic() + seconds
    while prompt not in said and time.monotonic() < deadline:
        # poll, not select: select refuses a descriptor past 1023, which a
        # long suite run's process reaches.
        if poller.poll(1000):
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            said += chunk
    return said


def _revoke_ctrl_d_at_the_prompt(env: dict[str, str]):
    # A terminal on stdin (no controlling one: getpass falls back to stdin).
    # Ctrl-D once the prompt is up (getpass flushes what was typed before).
    prompt = b"API key or prefix (not shown): "
    terminal, tty = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, MANAGE, "revoke_api_key", "-"],
        stdin=tty,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        before = _until_prompt(child.stderr, prompt, 120)
        os.write(terminal, b"\x04")
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(terminal)
        os.close(tty)
    err = (before + err).replace(prompt, b"")
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def test_revoke_api_key_ctrl_d_at_the_hidden_prompt_is_one_line(refused):
    assert "No key on standard input" in _one_line(refused[("stdin", "ctrl-d")])


@pytest.mark.parametrize("args", NOT_UTF8, ids=lambda args: args[0].decode())
def test_an_argument_that_is_not_utf8_is_refused(refused, args):
    # A Latin-1 terminal: Python reads the byte as a lone surrogate.
    line = _one_line(refused[tuple(args)])
    assert "holds characters that are not text" in line


def test_a_path_that_is_not_utf8_is_left_to_the_command(tmp_path):
    # A Latin-1 file name on an old share: Django's startapp writes into it.
    target = os.fsencode(tmp_path) + b"/caf\xe9/target"
    os.makedirs(target)
    result = _manage("startapp", "probe", target)
    assert result.returncode == 0, result.stderr.decode()[-400:]
    assert os.path.exists(target + b"/apps.py")


def test_send_bulk_takes_a_recipients_path_that_is_not_utf8(tmp_path):
    recipients = os.fsencode(tmp_path) + b"/caf\xe9.csv"
    with open(recipients, "w") as handle:
        handle.write("email\na@example.com\n")
    context = b'{"headline": "h", "body": "b"}'
    # Q_SYNC runs the job in the command; with no email account its one row
    # waits for a retry: a one-second budget ends that wait (it took 30 s).
    env = {**_env(), "BATCH_TIME_BUDGET_SECONDS": "1"}
    # Forked: startapp's path above is decoded by a new interpreter.
    result = _forked_bytes(
        b"send_bulk",
        b"newsletter",
        recipients,
        b"--no-wait",
        b"--context",
        context,
        env=env,
    )
    assert result.returncode == 0, result.stderr.decode()[-400:]


@pytest.mark.parametrize("arg", CONTROL_CHARACTERS)
def test_a_control_character_is_refused_for_every_command(refused, arg):
    line = _one_line(refused[(b"check", arg)])
    assert "holds a control character" in line


@pytest.mark.parametrize("args", UNREACHABLE, ids=lambda args: args[0])
def test_an_unreachable_database_is_one_line_without_the_password(refused, args):
    result = refused[("unreachable", *args)]
    line = _one_line(result)
    host = connection.settings_dict["HOST"]
    assert line.startswith(f"cannot reach the database ({host}:1): ")
    assert SECRET_PASSWORD not in result.stderr.decode() + result.stdout.decode()


def test_an_unreachable_database_line_names_the_database_unmasked():
    # The password may well be a prefix of the database's name (switchyard,
    # switchyard_shop): the line must still say which database is missing.
    s = connection.settings_dict
    missing = f"{s['PASSWORD']}_missing_db"
    line = _one_line(_manage("showmigrations", env=_env(name=missing)))
    assert line.startswith(f"cannot reach the database ({s['HOST']}:")
    assert line.endswith(f"(database {missing})")
    assert "***" not in line


def test_a_short_password_is_not_spelled_out_by_masking():
    # Masking "1" in "127.0.0.1", "port 1" would tell the reader the password.
    line = _one_line(_manage("showmigrations", env=_env(port=1, password="1")))
    assert "***" not in line
    assert ":1): " in line and "port 1 failed" in line


def _unreachable_line(monkeypatch, capsys, driver_says: str) -> str:
    """What manage.py prints when the driver's message is ``driver_says``
    and no connection was ever made (a driver that quotes the DSN back)."""
    from django.db import OperationalError, connections

    from integrations.management import entry

    def refused(argv):
        raise OperationalError(driver_says)

    connections["default"].close()
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", SECRET_PASSWORD)
    monkeypatch.setattr(entry, "execute_from_command_line", refused)
    with pytest.raises(SystemExit):
        entry.execute(["manage.py", "showmigrations"])
    [line] = capsys.readouterr().err.splitlines()
    return line


@pytest.mark.parametrize(
    "driver_says, shown",
    [
        (
            "invalid dsn postgres://shop:s3cret-from-url@db.internal:5432/x",
            "postgres://shop:***@db.internal:5432/x",
        ),
        ('conninfo password="se cret quoted" host=db', "password=***"),
        ("conninfo password='se cret single' host=db", "password=*** host=db"),
        ("{'user': 'shop', 'password': 'se cret dict'}", "'password': ***}"),
        ("{'user': 'shop', 'db_password': 'se cret dict'}", "'db_password': ***}"),
    ],
    # No "literal" case: libpq never quotes the configured password bare, and
    # replacing it spells it out where it is a word of libpq's text (below).
    ids=["url", "double-quoted", "single-quoted", "dict", "prefixed-dict"],
)
def test_an_unreachable_database_line_masks_every_quoted_password(
    monkeypatch, capsys, driver_says, shown
):
    line = _unreachable_line(monkeypatch, capsys, driver_says)

    assert shown in line
    for secret in ("s3cret", "cret", SECRET_PASSWORD):
        assert secret not in line


@pytest.mark.parametrize(
    "driver_says",
    [
        # libpq's conninfo keyword for the client key's passphrase
        "invalid conninfo: sslpassword=kp1-secret host=db",
        "environment PGPASSWORD=hunter host=db",
        "settings db_password=hunter host=db",
    ],
    ids=["sslpassword", "PGPASSWORD", "db_password"],
)
def test_a_password_keyword_with_a_prefix_is_masked(monkeypatch, capsys, driver_says):
    line = _unreachable_line(monkeypatch, capsys, driver_says)
    assert "hunter" not in line and "kp1-secret" not in line, line
    assert "=***" in line


@pytest.mark.parametrize(
    "password, spelled_out",
    [
        # libpq: 'FATAL:  password authentication failed for user "..."'
        ("password", "FATAL:  *** authentication failed"),
        # the Unix socket's path "/var/run/postgresql/.s.PGSQL.5432"
        ("postgresql", "/var/run/***/"),
    ],
)
def test_masking_the_configured_password_does_not_spell_it_out(password, spelled_out):
    env = _env(password=password)
    if password == "postgresql":  # no host: libpq's Unix socket
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(
            f"@{connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}",
            "@",
        )
    line = _one_line(_manage("showmigrations", env=env))
    # A masked word of libpq's own wording tells the password as plainly.
    assert spelled_out not in line, line
    assert "***" not in line, line


@pytest.mark.parametrize("addr", PORTLESS)
def test_serve_refuses_an_address_without_a_port_before_spawning(refused, addr):
    line = _one_line(refused[("serve", "--addr", addr, "--stop-timeout", "2")])
    assert "--addr must be host:port" in line


@pytest.mark.parametrize("args", [["--cached"], []], ids=["cached", "probing"])
def test_check_integrations_reports_the_breaker_unreadable_without_redis(args):
    from integrations.services import provider_account_get_or_create

    provider_account_get_or_create(
        slug="ship",
        kind="shipping",
        provider="sandbox",
        display_name="S",
        priority=1,
        credentials={
            "api_key": "sbx_x",
            "webhook_secret": "whsec_dGVzdHRlc3R0ZXN0dGVzdA==",
        },
    )
    env = _env()
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"

    result = _manage("check_integrations", *args, env=env)

    # Log records (JSON, one a line) may carry one; what the command says not.
    said = [
        line
        for line in result.stderr.decode().splitlines()
        if line.strip() and not line.startswith('{"ts"')
    ]
    assert not [line for line in said if "Traceback" in line], said
    assert "unreadable (Redis unreachable)" in result.stdout.decode()


def test_the_argument_check_leaves_the_settings_flag_to_django():
    # The check runs before Django parses --settings: it must read no settings.
    env = _env()
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"  # no SECRET_KEY: unusable
    env.pop("SECRET_KEY", None)
    result = _manage("check", "--settings=tests.settings", env=env)
    assert result.returncode == 0, result.stderr.decode()[-400:]
