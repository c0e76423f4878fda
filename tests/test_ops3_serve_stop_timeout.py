"""`serve --stop-timeout`: documented in --help and the README, and a value
that is no number of seconds is refused in one line before anything runs."""

import re

import pytest

from tests.platform.conftest import ROOT
from tests.platform.test_commands_odd_input import _manage, _one_line

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_serve_help_says_what_stop_timeout_does_and_its_default():
    result = _manage("serve", "--help")

    text = " ".join(result.stdout.decode().split())
    assert result.returncode == 0
    assert "--stop-timeout SECONDS" in text
    assert "default 20" in text
    assert "killed" in text


def test_the_readme_documents_stop_timeout_in_the_commands_table():
    readme = (ROOT / "README.md").read_text()
    commands = readme.split("## Management commands", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in commands.splitlines() if line.startswith("| `serve"))
    assert "--stop-timeout SECONDS" in row
    assert re.search(r"default 20", row)


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "1e309"])
def test_serve_refuses_a_stop_timeout_that_is_no_number_of_seconds(value):
    result = _manage("serve", "--addr", "127.0.0.1:1", "--stop-timeout", value)

    line = _one_line(result)
    assert "--stop-timeout" in line, line
    assert b"Started" not in result.stdout
