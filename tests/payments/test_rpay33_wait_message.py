"""r-pay33: the message of a one-off charge refused inside the card
network's wait names a minute at which the wait is over (rounded up), never
one inside it: the wait's end is a database time with microseconds (the
decline's ``failure_learnt_at`` plus whole hours or days)."""

from datetime import UTC, datetime

import pytest

from payments.services.messages import retry_wait_message


@pytest.mark.parametrize(
    ("until", "named"),
    [
        # Half a second into 10:00: a charge at 10:00:00.2 is still inside.
        (datetime(2026, 12, 8, 10, 0, 0, 500_000, tzinfo=UTC), "2026-12-08 10:01"),
        (datetime(2026, 12, 8, 10, 0, 0, 1, tzinfo=UTC), "2026-12-08 10:01"),
        (datetime(2026, 12, 8, 10, 0, 30, tzinfo=UTC), "2026-12-08 10:01"),
        (datetime(2026, 12, 8, 10, 0, 59, 999_999, tzinfo=UTC), "2026-12-08 10:01"),
        # On the minute: that minute.
        (datetime(2026, 12, 8, 10, 0, tzinfo=UTC), "2026-12-08 10:00"),
        (datetime(2026, 12, 31, 23, 59, 0, 10, tzinfo=UTC), "2027-01-01 00:00"),
    ],
)
def test_the_named_minute_is_never_inside_the_wait(until, named):
    assert f"before {named} UTC;" in retry_wait_message(until)
