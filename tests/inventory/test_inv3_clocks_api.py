"""The storefront reads a reservation's status and seconds left by the
database's clock, the one its expiry is stamped and swept by: a web process
whose clock is minutes off neither shows a hold it just made as expired
nor a dead one as active."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from inventory.models import Reservation
from tests.inventory.factories import StockLevelFactory
from tests.inventory.test_api import URL, api, post  # noqa: F401

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off
TTL = 120


@pytest.fixture(autouse=True)
def _two_machines() -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    StockLevelFactory(sku="A", on_hand=5)


def _reserve(api) -> dict:  # noqa: F811
    body = {"order_id": "o", "lines": [{"sku": "A", "quantity": 1}], "ttl_seconds": TTL}
    response = post(api, URL, body)
    assert response.status_code == 201, response.content
    return response.json()


def test_a_fast_web_process_shows_the_hold_it_made_active(api) -> None:  # noqa: F811
    with machine_clock(SKEW):
        made = _reserve(api)
        read = api.get(f"{URL}{made['id']}/").json()

    for shown in (made, read):
        assert shown["status"] == "active"
        assert TTL - 10 <= shown["seconds_left"] <= TTL


def test_a_slow_web_process_shows_a_dead_hold_expired(api) -> None:  # noqa: F811
    made = _reserve(api)
    Reservation.objects.filter(public_id=made["id"]).update(
        expires_at=database_now() - timedelta(seconds=5)
    )

    with machine_clock(-SKEW):
        read = api.get(f"{URL}{made['id']}/").json()

    assert (read["status"], read["seconds_left"]) == ("expired", 0)
