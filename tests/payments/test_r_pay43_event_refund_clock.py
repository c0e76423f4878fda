"""r-pay43: a refund the gateway reports is stored on the database's clock.

A refund of ours is inserted with the database's time (refunds.py); one a
gateway's event reports was inserted by ``objects.create`` with the worker's
clock, so on a worker behind the timeline showed it before the capture it
refunds and its ``payment.refunded`` event."""

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import whole_machine_clock
from payments import services
from payments.models import PaymentStatus, Refund
from payments.providers.base import PaymentEventKind
from payments.services.events import payment_event_apply
from tests.payments.clock_setup import server_database_only  # noqa: F401

pytestmark = pytest.mark.django_db

SKEW = 600  # seconds the worker's clock is behind the database's


@pytest.mark.parametrize("total", [False, True])
def test_a_reported_refund_from_a_worker_behind_has_the_database_time(primary, total):
    payment = services.payment_create(
        order_id="o-r43-refund",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key="r-pay43-refund",
    )
    assert payment.status == PaymentStatus.CAPTURED

    with whole_machine_clock(-SKEW):
        payment_event_apply(
            payment=payment,
            kind=PaymentEventKind.REFUNDED,
            amount=400,
            refund_reference="re_gw_43",
            amount_is_total=total,
        )

    refund = Refund.objects.get(payment=payment)
    assert refund.status == "succeeded"
    assert abs((database_now() - refund.created_at).total_seconds()) < 60
    assert abs((database_now() - refund.updated_at).total_seconds()) < 60
