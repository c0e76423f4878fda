"""A one-level reservation on PostgreSQL is two round trips: the plain read
of the levels and the one statement that takes the units and writes the
hold, stamped by the database's clock inside that statement (no SELECT of
the time first). Its times are still the database's, whatever this
machine's clock says."""

from datetime import timedelta

import pytest
from django.db import connection

from integrations.clock import database_now
from integrations.testing.clocks import whole_machine_clock
from inventory import services
from inventory.models import Reservation
from inventory.services import LineRequest
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db

TTL = 120


@pytest.fixture(autouse=True)
def _one_statement(settings) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement reservation is PostgreSQL's")
    settings.INVENTORY_RESERVATION_TTL_SECONDS = TTL
    StockLevelFactory(sku="A", on_hand=50, low_threshold=0)


def test_a_one_level_reservation_is_two_round_trips(
    django_assert_num_queries,
) -> None:
    with django_assert_num_queries(2):
        services.reservation_create(order_id="o", lines=[LineRequest("A", 1)])


@pytest.mark.parametrize("machine", [-240, 240], ids=["behind", "ahead"])
def test_its_times_are_the_databases_and_as_stored(machine) -> None:
    before = database_now()
    with whole_machine_clock(machine):
        held = services.reservation_create(order_id="o", lines=[LineRequest("A", 1)])
    after = database_now()

    stored = Reservation.objects.get(pk=held.pk)
    assert before <= stored.created_at <= after
    assert stored.expires_at == stored.created_at + timedelta(seconds=TTL)
    assert (held.created_at, held.expires_at) == (stored.created_at, stored.expires_at)


def test_a_time_the_caller_gives_is_kept() -> None:
    at = database_now() - timedelta(minutes=5)

    held = services.reservation_create(
        order_id="o", lines=[LineRequest("A", 1)], now=at, ttl_seconds=300
    )

    stored = Reservation.objects.get(pk=held.pk)
    assert (stored.created_at, stored.expires_at) == (at, at + timedelta(seconds=300))
    assert (held.created_at, held.expires_at) == (at, at + timedelta(seconds=300))
