"""EMAIL_DEFAULT_FROM whose display name holds an address stops the start
with one line, as any other sender no provider may be given does."""

import pytest

from tests.platform.forkstart import manage  # forked: settings read afresh
from tests.platform.test_config_truth import _assert_one_line_stop, _env


@pytest.mark.parametrize(
    "sender",
    [
        '"support@bank.example" <shop@example.com>',
        "=?utf-8?q?support=40bank.example?= <shop@example.com>",
    ],
)
def test_a_default_sender_whose_name_holds_an_address_stops_the_start(sender):
    result = manage("check", env=_env(DEBUG="true", EMAIL_DEFAULT_FROM=sender))
    line = _assert_one_line_stop(result, "EMAIL_DEFAULT_FROM")
    assert "display name" in line


def test_a_default_sender_named_by_its_own_address_starts():
    sender = '"shop@example.com" <shop@example.com>'
    result = manage("check", env=_env(DEBUG="true", EMAIL_DEFAULT_FROM=sender))
    assert result.returncode == 0, result.stderr
