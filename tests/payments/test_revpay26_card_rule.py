"""revpay26 (services, API): the card's rule reads only what cannot move.

1. A decline stored before pay26 (``failure_learnt_at`` empty) must not
   look newer because its row was written again later (a second failed
   event for it saves the whole row, moving ``updated_at``): an approval
   given since stays the card's latest word.
2. A network's "retry after" advice is the card's: a charge moved back to
   that card, after a decline on another one stopped it, still waits for it.
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import Payment, PaymentStatus, RecurringStatus
from payments.providers.base import Decline
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from tests.factories import ProviderAccountFactory
from tests.payments.decline_answers import (
    card_error,
    intent_payment,
    stripe_failed_webhook,
)
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db

LOST = card_error("lost_card", message="Your card was reported lost.")


@pytest.fixture
def stripe_account():
    return ProviderAccountFactory(
        provider="stripe", slug="stripe-main", credentials={"secret_key": "sk_test_x"}
    )


def post(api, url: str, body: dict):
    return api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def new_charge_on(api, method):
    return post(
        api,
        "/api/v1/customers/cus_1/recurring-charges/",
        {
            "payment_method": method.public_id,
            "amount": 900,
            "currency": "EUR",
            "interval": "month",
        },
    )


def move(api, recurring, method):
    url = f"/api/v1/recurring-charges/{recurring.public_id}/payment-method/"
    return post(api, url, {"payment_method": method.public_id})


# --- 1. a row stored before pay26 --------------------------------------------


def test_an_old_decline_written_again_does_not_outrank_a_later_approval(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    old = intent_payment(stripe_account, saved_method=method)
    stripe_failed_webhook(stripe_account, LOST)
    # Stored before migration 0018: when it was learnt is not on record.
    long_ago = timezone.now() - timedelta(days=60)
    Payment.objects.filter(pk=old.pk).update(
        failure_learnt_at=None, created_at=long_ago, updated_at=long_ago
    )
    # The card was approved since (the customer found it again).
    Payment.objects.create(
        order_id="order-later",
        amount=700,
        currency="EUR",
        status=PaymentStatus.CAPTURED,
        amount_authorized=700,
        amount_captured=700,
        idempotency_key=f"oneoff-{uuid.uuid4().hex}",
        saved_method=method,
        created_at=timezone.now() - timedelta(days=30),
    )
    assert new_charge_on(api, method).status_code == 201

    # The gateway tells of the old decline once more (another event for the
    # same intent): nothing new was learnt about the card.
    stripe_failed_webhook(stripe_account, LOST, event_id="evt_again")

    old.refresh_from_db()
    assert old.failure_learnt_at is None
    response = new_charge_on(api, method)
    assert response.status_code == 201, response.content


# --- 2. the network's wait belongs to the card ---------------------------------


def declined_run(monkeypatch, code: str, advice: str = "") -> None:
    def decline(self, request):
        raise Decline(
            "Your card was declined.", code=code, provider_code="51", advice_code=advice
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
    assert recurring_charges_report().declined == 1
    monkeypatch.undo()


def test_a_move_back_to_a_card_waits_for_its_networks_advice(
    api, monkeypatch, primary, recurring
):
    first = recurring.saved_method
    declined_run(monkeypatch, "insufficient_funds", "retry_after_10_days")
    (on_first,) = payments_of(recurring)
    learnt = on_first.failure_learnt_at
    other = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )

    # Moved to the other card, declined there too (no advice) ...
    assert move(api, recurring, other).status_code == 200
    declined_run(monkeypatch, "insufficient_funds")
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED

    # ... and moved back to the first one within its ten days.
    response = move(api, recurring, first)
    assert response.status_code == 200, response.content
    recurring.refresh_from_db()
    assert recurring.next_run_at >= learnt + timedelta(days=10)
    before = charges(primary)
    report = recurring_charges_report(now=learnt + timedelta(days=9))
    assert (report.charged, charges(primary)) == (0, before)


def test_a_card_approved_since_its_advice_is_charged_at_once(
    api, monkeypatch, primary, recurring
):
    first = recurring.saved_method
    declined_run(monkeypatch, "insufficient_funds", "retry_after_10_days")
    other = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )
    assert move(api, recurring, other).status_code == 200
    declined_run(monkeypatch, "insufficient_funds")
    # The first card was charged (a one-off) and approved since.
    Payment.objects.create(
        order_id="order-later",
        amount=700,
        currency="EUR",
        status=PaymentStatus.CAPTURED,
        amount_authorized=700,
        amount_captured=700,
        idempotency_key=f"oneoff-{uuid.uuid4().hex}",
        saved_method=first,
    )

    assert move(api, recurring, first).status_code == 200
    recurring.refresh_from_db()
    assert recurring.next_run_at <= timezone.now()
