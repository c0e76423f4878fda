"""pay43: a payment row is inserted with the database's time in ``updated_at``
as in ``created_at``, by the INSERT itself.

A card's or a recurring charge's INSERT wrote ``updated_at`` from the
machine's clock while every later move stamps the database's: a charge whose
worker died before its gateway call, inserted by a machine behind, looked
long untouched to the sweeps that measure by it."""

import pytest
from django.conf import settings

from integrations.clock import database_now
from integrations.testing.clocks import whole_machine_clock
from payments import services
from payments.models import Payment, PaymentStatus
from payments.services import methods
from payments.services import recurring as recurring_service
from payments.services.recurring import recurring_charges_report
from tests.payments.clock_setup import server_database_only  # noqa: F401
from tests.payments.recurring_setup import (
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    saved_card_charge,
)

pytestmark = pytest.mark.django_db

SKEW = (settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 10) * 60


class Killed(BaseException):
    """The worker killed right after the payment row was inserted."""


def _killed(*args, **kwargs):
    raise Killed


def _as_inserted(payment: Payment) -> None:
    assert payment.status == PaymentStatus.PENDING
    assert abs((database_now() - payment.updated_at).total_seconds()) < 60
    # One INSERT's statement_timestamp(): both stamps are the same instant.
    assert payment.updated_at == payment.created_at


def test_a_card_charge_from_a_machine_behind_is_inserted_at_the_database_time(
    primary, monkeypatch
):
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    monkeypatch.setattr(methods, "saved_method_send", _killed)
    with whole_machine_clock(-SKEW), pytest.raises(Killed):
        saved_card_charge(method, order_id="order-43")
    _as_inserted(Payment.objects.get(order_id="order-43"))


def test_a_recurring_charge_from_a_machine_behind_is_inserted_at_the_database_time(
    primary, recurring, monkeypatch
):
    monkeypatch.setattr(recurring_service, "saved_method_send", _killed)
    with whole_machine_clock(-SKEW), pytest.raises(Killed):
        recurring_charges_report()
    (payment,) = payments_of(recurring)
    _as_inserted(payment)
