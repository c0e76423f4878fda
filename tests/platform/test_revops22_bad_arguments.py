"""A command told an argument it has no use for (an app label, a check
tag) says so in one line even when the argument holds a line
break: the error quotes it back, as argparse's errors do (ops22 escaped
those), so the break is shown as ``\\n``."""

from unittest import mock

import pytest

from integrations.management.entry import OneLineUtility

LINE_BROKEN = "no\nsuch\u2028app"


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    # django.setup() again would point the log handlers at this test's
    # captured stderr, closed when it ends (Django is set up already).
    with mock.patch("django.setup"), pytest.raises(SystemExit) as stopped:
        OneLineUtility(["manage.py", *argv]).execute()
    err = capsys.readouterr().err
    return stopped.value.code, err.splitlines()


@pytest.mark.parametrize(
    "argv",
    [
        # A CommandError, written by Django's run_from_argv.
        ["migrate", LINE_BROKEN],
        ["check", "--tag", LINE_BROKEN],
        ["check", f"--tag={LINE_BROKEN}"],
        # Written to the command's stderr by the command itself (exit 2).
        ["showmigrations", LINE_BROKEN],
    ],
    ids=["migrate-app", "check-tag", "check-tag=", "showmigrations-app"],
)
# Transactional: run_from_argv closes the connections when it ends.
@pytest.mark.django_db(transaction=True)
def test_an_unknown_line_broken_argument_is_quoted_in_one_line(argv, capsys):
    status, lines = _run(argv, capsys)

    assert status in (1, 2), lines
    assert len(lines) == 1, lines
    assert "no\\nsuch\\u2028app" in lines[0], lines
