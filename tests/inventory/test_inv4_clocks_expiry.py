"""Whether a reservation has expired is read by the database's clock, the
one its expires_at is stamped and swept by, also where a caller does not say
what time it is: a process whose clock is minutes off must not read a dead
hold as alive (its units unsellable) nor a live one as dead."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
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


def _held(expires_in: float) -> Reservation:
    held = services.reservation_create(order_id="o", lines=[LineRequest("A", 1)])
    Reservation.objects.filter(pk=held.pk).update(
        expires_at=database_now() + timedelta(seconds=expires_in)
    )
    return Reservation.objects.get(pk=held.pk)


def test_a_slow_process_reads_a_dead_hold_as_expired() -> None:
    held = _held(expires_in=-5)

    with whole_machine_clock(-SKEW):
        assert held.is_expired() is True


def test_a_fast_process_reads_a_live_hold_as_alive() -> None:
    held = _held(expires_in=60)

    with whole_machine_clock(SKEW):
        assert held.is_expired() is False
