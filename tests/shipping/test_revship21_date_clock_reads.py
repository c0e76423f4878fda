"""Review of ship21 (ship and pickup date windows on the database's clock):
the clock is one query, read once per rate shop whatever the number of
carriers (none when the request names no ship date), never per carrier or
per quote, on the hot path of rate shopping."""

from datetime import UTC, timedelta

import pytest

from integrations import clock
from shipping.providers import validation
from tests.shipping.helpers import carrier, shop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


@pytest.fixture
def clock_reads(monkeypatch) -> list[int]:
    reads: list[int] = []

    def counted():
        reads.append(1)
        return clock.database_now()

    monkeypatch.setattr(validation, "database_now", counted)
    return reads


def test_one_clock_read_per_rate_shop_whatever_the_carriers(clock_reads) -> None:
    for slug in ("post-a", "post-b", "post-c"):
        carrier(slug)
    tomorrow = clock.database_now().astimezone(UTC).date() + timedelta(days=1)

    first = shop(ship_date=tomorrow)
    again = shop(ship_date=tomorrow)

    assert len(first.quotes) > 3 and again.cached
    assert len(clock_reads) == 2


def test_no_clock_read_without_a_ship_date(clock_reads) -> None:
    carrier("post-a")
    assert shop().quotes
    assert clock_reads == []
