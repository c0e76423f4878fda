"""`migrate`, `sqlmigrate` and `squashmigrations` given an app label no
installed app has say it as showmigrations and makemigrations do (ops24):
one line naming the command and ending "(see --help)", exit 2, not
Django's "CommandError: No installed app ..." (exit 1). ``call_command``
gets a CommandError."""

from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from integrations.management.entry import OneLineUtility
from tests.platform.forkstart import manage  # forked: settings read afresh

# Each command with an unknown label, and a migration name where it needs one.
ARGV = {
    "migrate": ["migrate", "noise24_no_app"],
    "sqlmigrate": ["sqlmigrate", "noise24_no_app", "0001"],
    "squashmigrations": ["squashmigrations", "noise24_no_app", "0002"],
}


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    # django.setup() again would point the log handlers at this test's
    # captured stderr, closed when it ends (Django is set up already).
    with mock.patch("django.setup"), pytest.raises(SystemExit) as stopped:
        OneLineUtility(["manage.py", *argv]).execute()
    err = capsys.readouterr().err
    return stopped.value.code, err.splitlines()


@pytest.mark.parametrize("command", list(ARGV))
# Transactional: run_from_argv closes the connections when it ends.
@pytest.mark.django_db(transaction=True)
def test_an_unknown_app_label_is_one_argument_error_line(command, capsys):
    status, lines = _run(ARGV[command], capsys)

    assert status == 2, lines
    assert lines == [
        f"{command}: no installed app with label 'noise24_no_app' (see --help)"
    ]


@pytest.mark.parametrize("command", list(ARGV))
@pytest.mark.django_db
def test_call_command_raises_a_command_error(command):
    with pytest.raises(CommandError, match="no installed app with label 'noise24_no"):
        call_command(*ARGV[command])


@pytest.mark.parametrize("command", list(ARGV))
@pytest.mark.django_db
def test_a_known_app_label_goes_on_to_djangos_own_checks(command):
    # The tests run without migration modules: Django's next check answers.
    argv = [command, "integrations", *ARGV[command][2:]]
    with pytest.raises(CommandError) as raised:
        call_command(*argv)
    assert "no installed app" not in str(raised.value).lower()
    assert "does not have migrations" in str(raised.value)


def test_manage_py_says_it_in_one_line(sqlite_env):
    result = manage("migrate", "noise24_no_app", env=sqlite_env)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-800:]
    assert lines == [
        "migrate: no installed app with label 'noise24_no_app' (see --help)"
    ]
