"""pay41b: a token payment's stamps are the database's clock, like a card's.

A token payment's row is the hand-built INSERT (``integrations.row_sql``);
it wrote ``created_at`` and ``updated_at`` with the web machine's clock,
while reconciliation measures ages with the database's. A web machine
behind made a token payment look older by its skew: the Stripe/Braintree
search-lag guard failed it as not found, and the review timer put it in
review, before their time had passed (and the sweep took it as left open
while it was in flight)."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings

from integrations.clock import database_now
from integrations.testing.clocks import whole_machine_clock
from payments import services
from payments.models import Payment, PaymentStatus, ReviewState
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.payments.clock_setup import server_database_only  # noqa: F401

pytestmark = pytest.mark.django_db

HOUR = 3600
LAG = HOUR  # Stripe's and Braintree's search lag
# A web machine's clock behind by more than the lag and the review timer.
BEHIND = -(settings.PAYMENTS_UNKNOWN_REVIEW_HOURS + 2) * HOUR
NEAR = timedelta(seconds=60)


@pytest.fixture
def lagging(monkeypatch):
    monkeypatch.setattr(SandboxPaymentsAdapter, "lookup_lag_seconds", LAG)


def _token_payment(token: str) -> Payment:
    with whole_machine_clock(BEHIND):
        return services.payment_create(
            order_id=f"order-{uuid.uuid4().hex[:8]}",
            amount=1050,
            currency="EUR",
            source_token=token,
            capture=True,
            idempotency_key=uuid.uuid4().hex,
        )


def _near_database_time(payment: Payment) -> None:
    stored = Payment.objects.get(pk=payment.pk)
    now = database_now()
    assert abs(now - stored.created_at) < NEAR
    # The row as the caller holds it (an equality guard compares them).
    assert payment.created_at == stored.created_at


def test_a_token_payment_from_a_web_machine_behind_has_the_database_time(primary):
    payment = _token_payment("tok_success")

    assert payment.status == PaymentStatus.CAPTURED
    _near_database_time(payment)


def test_a_token_payment_through_the_api_has_the_database_time(primary, api):
    with whole_machine_clock(BEHIND):
        response = api.post(
            "/api/v1/payments/",
            {
                "order_id": "order-api",
                "amount": 1050,
                "currency": "EUR",
                "source_token": "tok_success",
                "capture": True,
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )

    assert response.status_code == 201, response.content
    stored = Payment.objects.get(public_id=response.json()["id"])
    assert abs(database_now() - stored.created_at) < NEAR


def test_a_web_machine_behind_does_not_fail_a_token_charge_before_the_lag(
    primary, lagging
):
    # A 500 with nothing made: the gateway's look-up finds no charge.
    lost = _token_payment("tok_server_error")
    assert lost.status == PaymentStatus.UNKNOWN

    services.payments_reconcile_pending()

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.UNKNOWN
    assert lost.failure_code != "not_found_at_provider"


def test_a_web_machine_behind_does_not_put_a_token_payment_in_review_early(primary):
    lost = _token_payment("tok_timeout")
    primary.settings = {"outage": True}
    primary.save()

    services.payments_reconcile_pending()

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.UNKNOWN
    assert lost.review_state == ReviewState.NONE
