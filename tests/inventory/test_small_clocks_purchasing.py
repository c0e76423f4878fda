"""Drafting purchase orders counts a hold as expired by the database's
clock, which the holds' times are compared with everywhere: a drafter whose
clock runs ahead took a live hold's units as free and skipped a needed
order; one whose clock runs behind kept a dead hold's units as taken."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from inventory import services
from inventory.models import Reservation
from inventory.services import LineRequest
from tests.inventory.factories import ReorderPointFactory, StockLevelFactory

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off
TTL = 120


@pytest.fixture(autouse=True)
def _two_machines() -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    # 10 on hand, 8 held: 2 sellable, under the reorder level of 5.
    StockLevelFactory(sku="A", on_hand=10)
    ReorderPointFactory(sku="A", reorder_level=5, reorder_quantity=20)


def _hold(expires_in: float) -> Reservation:
    held = services.reservation_create(
        order_id="o", lines=[LineRequest("A", 8)], ttl_seconds=TTL
    )
    Reservation.objects.filter(pk=held.pk).update(
        expires_at=database_now() + timedelta(seconds=expires_in)
    )
    return held


def _drafted_skus() -> list[str]:
    orders = services.purchase_orders_draft()
    return [line.sku for order in orders for line in order.lines.all()]


def test_a_fast_drafter_orders_what_a_live_hold_leaves_short() -> None:
    _hold(expires_in=TTL)

    with machine_clock(SKEW):
        assert _drafted_skus() == ["A"]


def test_a_slow_drafter_counts_a_dead_holds_units_as_free() -> None:
    _hold(expires_in=-5)

    with machine_clock(-SKEW):
        assert _drafted_skus() == []
