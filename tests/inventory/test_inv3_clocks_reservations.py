"""A reservation's created and expiry times are the database's, and so is
every "now" they are compared with: a web process, a sweeper or a worker
whose clock is minutes off neither expires a live hold early (its units
sold to another order) nor keeps a dead one (its units unsellable)."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import (
    machine_clock,
    shared_by_machines,
    whole_machine_clock,
)
from inventory import services
from inventory.models import Reservation, ReservationStatus
from inventory.services import InsufficientStock, LineRequest
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off
TTL = 120


@pytest.fixture(autouse=True)
def _two_machines(settings) -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    settings.INVENTORY_RESERVATION_TTL_SECONDS = TTL
    StockLevelFactory(sku="A", on_hand=5)


def _reserve(quantity: int = 5) -> Reservation:
    return services.reservation_create(order_id="o", lines=[LineRequest("A", quantity)])


def _status(reservation: Reservation) -> str:
    reservation.refresh_from_db()
    return reservation.status


def test_a_fast_sweeper_leaves_a_live_hold() -> None:
    held = _reserve()

    with machine_clock(SKEW):
        assert services.reservations_expire() == 0

    assert _status(held) == ReservationStatus.ACTIVE


def test_a_slow_sweeper_expires_a_dead_hold() -> None:
    held = _reserve()
    # Its time ran out a moment ago, by the database's clock.
    Reservation.objects.filter(pk=held.pk).update(
        expires_at=database_now() - timedelta(seconds=5)
    )

    with machine_clock(-SKEW):
        assert services.reservations_expire() == 1

    assert _status(held) == ReservationStatus.EXPIRED


@pytest.mark.parametrize("machine", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_a_reservation_carries_the_databases_time(machine) -> None:
    before = database_now()
    with whole_machine_clock(machine):
        held = _reserve()
    after = database_now()

    stored = Reservation.objects.get(pk=held.pk)
    assert before <= stored.created_at <= after
    assert stored.expires_at == stored.created_at + timedelta(seconds=TTL)
    assert (held.created_at, held.expires_at) == (stored.created_at, stored.expires_at)


def test_a_hold_made_by_a_slow_web_process_lives_its_whole_time() -> None:
    with whole_machine_clock(-SKEW):
        held = _reserve()

    assert services.reservations_expire() == 0
    assert _status(held) == ReservationStatus.ACTIVE


def test_a_hold_made_by_a_fast_web_process_expires_on_time() -> None:
    with whole_machine_clock(SKEW):
        held = _reserve()

    later = database_now() + timedelta(seconds=TTL + 5)
    assert services.reservations_expire(now=later) == 1
    assert _status(held) == ReservationStatus.EXPIRED


def test_a_fast_web_process_does_not_sell_a_live_holds_units() -> None:
    _reserve()

    with machine_clock(SKEW), pytest.raises(InsufficientStock):
        _reserve(1)


def test_a_slow_web_process_sells_a_dead_holds_units() -> None:
    held = _reserve()
    Reservation.objects.filter(pk=held.pk).update(
        expires_at=database_now() - timedelta(seconds=5)
    )

    with machine_clock(-SKEW):
        again = _reserve(5)

    assert again.lines.get().quantity == 5
