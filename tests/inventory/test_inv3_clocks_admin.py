"""Staff's reservation list reads status and time left by the database's
clock, the one expiry is stamped and swept by: a web process whose clock is
minutes off neither shows a live hold as expired nor a dead one as active."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from inventory import services
from inventory.models import Reservation
from inventory.services import LineRequest
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off


@pytest.fixture(autouse=True)
def _two_machines() -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    StockLevelFactory(sku="A", on_hand=5)


def _cells(admin_client) -> tuple[str, str]:
    page = admin_client.get(reverse("admin:inventory_reservation_changelist"))
    html = page.content.decode()
    status = re.search(r'class="field-effective_status">([^<]*)<', html).group(1)
    left = re.search(r'class="field-time_left">([^<]*)<', html).group(1)
    return status, left


def test_a_fast_web_process_shows_a_live_hold_live(admin_client) -> None:
    services.reservation_create(
        order_id="o", lines=[LineRequest("A", 1)], ttl_seconds=120
    )

    with machine_clock(SKEW):
        status, left = _cells(admin_client)

    assert status == "active"
    assert left.startswith("1m ") or left.startswith("2m ")


def test_a_slow_web_process_shows_a_dead_hold_expired(admin_client) -> None:
    held = services.reservation_create(
        order_id="o", lines=[LineRequest("A", 1)], ttl_seconds=120
    )
    Reservation.objects.filter(pk=held.pk).update(
        expires_at=database_now() - timedelta(seconds=5)
    )

    with machine_clock(-SKEW):
        assert _cells(admin_client) == ("expired", "expired")
