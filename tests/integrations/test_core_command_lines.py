"""Every command run by manage.py, Django's and third parties' as well as
ours, says a bad argument in one readable line naming the command (not
argparse's usage block) and exits non-zero; an unknown command is one line
too. ``rekey_addresses`` says an unreachable database in the shared line."""

from functools import partial

import pytest

from tests.platform.conftest import clean_env, dev_secrets, side_by_side
from tests.platform.forkstart import manage  # forked: settings read afresh

BAD_ARGUMENTS = [
    # Django's own commands.
    (["migrate", "--bogus"], "unrecognized arguments: --bogus"),
    (["createcachetable", "--bogus"], "unrecognized arguments: --bogus"),
    (["showmigrations", "--database"], "argument --database: expected one argument"),
    (["check", "--fail-level", "LOUD"], "argument --fail-level: invalid choice"),
    # django-q2's.
    (["qmonitor", "--bogus"], "unrecognized arguments: --bogus"),
    # Ours (already one line).
    (["check_integrations", "--bogus"], "unrecognized arguments: --bogus"),
]


UNKNOWN_COMMANDS = [("bogus", ""), ("migrat", " (did you mean migrate?)")]


@pytest.fixture
def sqlite_env(tmp_path) -> dict[str, str]:
    return clean_env(
        **dev_secrets(),
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict:
    """Each command line of the cases below, run side by side once (each on a
    database file of its own), by its arguments."""
    lines = [tuple(args) for args, _ in BAD_ARGUMENTS]
    lines += [("migrate", "--help")]
    lines += [(command, "--noinput") for command, _ in UNKNOWN_COMMANDS]
    calls = {}
    for number, line in enumerate(lines):
        db = tmp_path_factory.mktemp(f"line{number}") / "db.sqlite3"
        env = clean_env(**dev_secrets(), DEBUG="true", DATABASE_URL=f"sqlite:///{db}")
        calls[line] = partial(manage, *line, env=env)
    return side_by_side(calls)


def _one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "usage:" not in result.stderr and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "reason"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS]
)
def test_a_bad_argument_is_one_line(ran, args, reason):
    result = ran[tuple(args)]

    assert result.returncode == 2, result.stderr
    line = _one_line(result)
    assert line.startswith(f"{args[0]}: {reason}"), line
    assert line.endswith("(see --help)"), line
    assert result.stdout == ""


def test_help_still_shows_the_usage(ran):
    result = ran[("migrate", "--help")]

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: manage.py migrate")


@pytest.mark.parametrize(("command", "hint"), UNKNOWN_COMMANDS)
def test_an_unknown_command_is_one_line(ran, command, hint):
    result = ran[(command, "--noinput")]

    assert result.returncode == 1, result.stderr
    assert _one_line(result) == (
        f"manage.py: unknown command {command!r}{hint} (see manage.py help)"
    )


def test_rekey_addresses_says_an_unreachable_database_in_the_shared_line(
    sqlite_env,
):
    env = {**sqlite_env, "DATABASE_URL": "postgres://u:pw@127.0.0.1:1/nowhere"}
    shared = manage("check_integrations", env=env)
    result = manage("rekey_addresses", env=env)

    assert result.returncode == shared.returncode == 1, result.stderr
    line = _one_line(result)
    assert line.startswith("cannot reach the database (127.0.0.1:1): "), line
    assert line.endswith("(database nowhere)"), line
    assert line == _one_line(shared)
