"""Event times read from providers (iso_time, unix_time): a time is kept
only if every time zone can show it; one at the edge of years 1-9999 in UTC
is another year elsewhere, and converting it raised OverflowError (an admin
page, a carrier's pickup window in the account's zone)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from integrations.webhooks.messages import iso_time, unix_time
from shipping.providers.shippo import ShippoAdapter
from tests.shipping.providers.test_shippo_pickups import (  # noqa: F401
    PICKUPS_URL,
    _request,
    account,
    fx,
    mocked,
)

ZONES = ["Asia/Tokyo", "America/Chicago", "Pacific/Kiritimati", "Etc/GMT+12"]


@pytest.mark.parametrize(
    "stamp",
    [
        "9999-12-31T23:00:00Z",
        "9999-12-31T00:00:01Z",
        "0001-01-01T03:00:00Z",
        "0001-01-01T23:59:59Z",
        "0001-01-02T05:00:00+08:00",
    ],
)
def test_a_time_within_a_day_of_the_years_edge_is_none(stamp):
    assert iso_time(stamp) is None


@pytest.mark.parametrize("stamp", ["9999-12-30T23:59:59Z", "0001-01-02T00:00:00Z"])
def test_a_time_a_day_inside_the_range_is_kept_and_shown_in_every_zone(stamp):
    parsed = iso_time(stamp)
    assert parsed is not None
    for zone in ZONES:
        parsed.astimezone(ZoneInfo(zone))


def test_unix_seconds_at_the_edge_of_the_range_are_none():
    last = int(datetime(9999, 12, 31, 23, tzinfo=UTC).timestamp())
    first = int(datetime(1, 1, 1, 3, tzinfo=UTC).timestamp())
    assert unix_time(last) is None and unix_time(first) is None
    kept = unix_time(last - 86_400)
    assert kept is not None
    for zone in ZONES:
        kept.astimezone(ZoneInfo(zone))


@pytest.mark.django_db
def test_a_pickup_window_confirmed_at_year_1_utc_does_not_crash(account, mocked):  # noqa: F811
    # 0001-01-01T03:00Z is year 0 in Chicago, the account's pickup zone.
    answer = {
        **fx("pickup_confirmed.json"),
        "confirmed_start_time": "0001-01-01T03:00:00Z",
        "confirmed_end_time": "0001-01-01T04:00:00Z",
    }
    mocked.post(PICKUPS_URL, status=201, json=answer)

    booked = ShippoAdapter(account).schedule_pickup(_request())

    assert booked.pickup_date is not None
