"""Every command manage.py can run (the registry: the project's, Django's,
third parties'), given an argument it does not take: one line on stderr
naming the command and ending "(see --help)", exit 2 (README), never
argparse's usage block. A line break in the refused argument (argparse quotes
it back raw) does not make it two lines."""

from unittest import mock

import pytest
from django.core.management import get_commands

from integrations.management.entry import OneLineUtility
from tests.platform.conftest import ROOT
from tests.platform.test_readme_commands import _env_unreachable, _manage

COMMANDS = sorted(get_commands())
BAD = ["--ops22-no-such-option", "--ops22-no\nsuch\u2028option"]


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    # django.setup() again would point the log handlers at this test's
    # captured stderr, closed when it ends (Django is set up already).
    with mock.patch("django.setup"), pytest.raises(SystemExit) as stopped:
        OneLineUtility(argv).execute()
    err = capsys.readouterr().err
    return stopped.value.code, err.splitlines()


@pytest.mark.parametrize("bad", BAD, ids=["plain", "line-break"])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_bad_argument_in_one_line(command, bad, capsys):
    status, lines = _run(["manage.py", command, bad], capsys)

    assert status == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{command}: "), lines
    assert lines[0].endswith(" (see --help)"), lines


def test_the_registry_holds_every_project_command_module():
    # The parametrisation above is the registry's: each command file is in it.
    files = {path.stem for path in ROOT.glob("*/management/commands/[!_]*.py")}
    assert len(files) > 15, files
    assert files <= set(COMMANDS), files - set(COMMANDS)


def test_manage_py_says_a_line_break_argument_in_one_line():
    # The real entry (manage.py), for a Django command and a project one.
    for args in (["migrate", "--no\nsuch"], ["reconcile_payments", "x\ny"]):
        result = _manage(*args, env=_env_unreachable())
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, result.stderr[-800:]
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"{args[0]}: unrecognized arguments: "), lines
        assert "\\n" in lines[0], lines
