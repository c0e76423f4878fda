"""`showmigrations` and `makemigrations` given an app label no installed app
has: one line naming the command and ending "(see --help)", exit 2, as every
other argument error (README); every unknown label in that one line.
``call_command`` gets a CommandError, as for argparse's errors."""

from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from integrations.management.entry import OneLineUtility
from tests.platform.forkstart import manage  # forked: settings read afresh

COMMANDS = ["showmigrations", "makemigrations"]


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    # django.setup() again would point the log handlers at this test's
    # captured stderr, closed when it ends (Django is set up already).
    with mock.patch("django.setup"), pytest.raises(SystemExit) as stopped:
        OneLineUtility(["manage.py", *argv]).execute()
    err = capsys.readouterr().err
    return stopped.value.code, err.splitlines()


@pytest.mark.parametrize("command", COMMANDS)
# Transactional: run_from_argv closes the connections when it ends.
@pytest.mark.django_db(transaction=True)
def test_an_unknown_app_label_is_one_argument_error_line(command, capsys):
    status, lines = _run([command, "ops24_no_app"], capsys)

    assert status == 2, lines
    assert lines == [
        f"{command}: no installed app with label 'ops24_no_app' (see --help)"
    ]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.django_db(transaction=True)
def test_several_unknown_app_labels_are_one_line(command, capsys):
    status, lines = _run([command, "ops24_a", "integrations", "ops24_b"], capsys)

    assert status == 2, lines
    assert lines == [
        f"{command}: no installed app with labels 'ops24_a', 'ops24_b' (see --help)"
    ]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.django_db
def test_call_command_raises_a_command_error(command):
    with pytest.raises(CommandError, match="no installed app with label 'ops24_x'"):
        call_command(command, "ops24_x")


@pytest.mark.django_db(transaction=True)
def test_known_app_labels_still_work(capsys):
    with mock.patch("django.setup"):
        OneLineUtility(["manage.py", "showmigrations", "integrations"]).execute()
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.startswith("integrations\n"), captured.out


def test_manage_py_says_it_in_one_line(sqlite_env):
    result = manage("makemigrations", "ops24_no_app", env=sqlite_env)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-800:]
    assert lines == [
        "makemigrations: no installed app with label 'ops24_no_app' (see --help)"
    ]
