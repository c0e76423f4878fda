"""Every command run by manage.py, Django's and third parties' as well as
ours, says a bad argument in one readable line naming the command (not
argparse's usage block) and exits non-zero; an unknown command is one line
too. ``rekey_addresses`` says an unreachable database in the shared line."""

import pytest

from tests.platform.conftest import clean_env, dev_secrets, manage

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


@pytest.fixture
def sqlite_env(tmp_path) -> dict[str, str]:
    return clean_env(
        **dev_secrets(),
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )


def _one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "usage:" not in result.stderr and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "reason"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS]
)
def test_a_bad_argument_is_one_line(sqlite_env, args, reason):
    result = manage(*args, env=sqlite_env)

    assert result.returncode == 2, result.stderr
    line = _one_line(result)
    assert line.startswith(f"{args[0]}: {reason}"), line
    assert line.endswith("(see --help)"), line
    assert result.stdout == ""


def test_help_still_shows_the_usage(sqlite_env):
    result = manage("migrate", "--help", env=sqlite_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: manage.py migrate")


@pytest.mark.parametrize(
    ("command", "hint"),
    [("bogus", ""), ("migrat", " (did you mean migrate?)")],
)
def test_an_unknown_command_is_one_line(sqlite_env, command, hint):
    result = manage(command, "--noinput", env=sqlite_env)

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
