"""The expiry schedule racing a payment: a reservation confirmed between the
sweep's read and its lock is left confirmed, and the sweep goes on to expire
the other reservations past their time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services
from inventory.models import Reservation
from inventory.services import LineRequest, closing
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db


def test_a_reservation_paid_while_the_sweep_runs_stops_no_other_expiry(monkeypatch):
    StockLevelFactory(sku="A", on_hand=5)
    past = timezone.now() - timedelta(hours=1)
    paid, other = (
        services.reservation_create(
            order_id=f"order-{n}",
            lines=[LineRequest("A", 1)],
            ttl_seconds=60,
            now=past + timedelta(seconds=n),
        )
        for n in range(2)
    )
    original = closing._close

    def payment_captured_meanwhile(reservation, target, now):
        if reservation.pk == paid.pk and target == "expired":
            services.reservation_confirm(
                reservation=Reservation.objects.get(pk=paid.pk)
            )
        return original(reservation, target, now)

    monkeypatch.setattr(closing, "_close", payment_captured_meanwhile)
    assert services.reservations_expire() == 1
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses == {paid.pk: "confirmed", other.pk: "expired"}
