"""revpay24 (services, API): a decline learnt late is only the payment's if
the payment fails by it. A look-up's decline that lands after a webhook
captured the payment leaves no failure on it (the storefront would read a
captured payment that "failed"); and a late decline's own words are kept for
staff on the timeline, secrets masked, as a synchronous decline's are."""

import json
import uuid

import pytest
import responses

from integrations.secrets_registry import MASK
from payments.models import Payment, PaymentNote, PaymentStatus
from payments.selectors import payment_timeline
from payments.services.events import payment_event_apply
from payments.services.reconcile import payment_reconcile
from tests.factories import ProviderAccountFactory
from tests.payments.decline_answers import (  # noqa: F401 (fresh_secrets)
    STOPPED,
    fresh_secrets,
    intent_payment,
    stripe_failed_webhook,
)
from tests.payments.providers import test_stripe as st

pytestmark = pytest.mark.django_db

CANARY = "sk_test_CANARY_revpay24_0123456789"


@pytest.fixture
def stripe_account():
    return ProviderAccountFactory(
        provider="stripe",
        slug="stripe-main",
        credentials={"secret_key": CANARY},
        settings=dict(st.FAST),
    )


def stripe_payment(account, status=PaymentStatus.PENDING, **fields) -> Payment:
    return intent_payment(account, status, **fields)


def failed_webhook(account, error: dict) -> None:
    stripe_failed_webhook(account, error, event_id=f"evt_{uuid.uuid4().hex[:24]}")


@responses.activate
def test_a_look_up_decline_landing_after_a_capture_leaves_no_failure(
    api, stripe_account
):
    payment = stripe_payment(
        stripe_account, status=PaymentStatus.UNKNOWN, failure_code="outcome_unknown"
    )
    failed = st.intent(status="requires_payment_method", last_payment_error=STOPPED)

    def answer(request):
        # The customer's next confirmation succeeded, and its webhook was
        # applied while the look-up's (older) answer was on its way back.
        payment_event_apply(payment=payment, kind="succeeded", amount=2000)
        return 200, {}, json.dumps(failed)

    responses.add_callback(
        responses.GET,
        f"https://api.stripe.com/v1/payment_intents/{failed['id']}",
        callback=answer,
    )

    payment_reconcile(payment=payment)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert (
        payment.failure_code,
        payment.failure_provider_code,
        payment.failure_advice_code,
    ) == ("", "", "")
    body = api.get(f"/api/v1/payments/{payment.public_id}/").json()
    assert (body["status"], body["failure"]) == ("captured", None)


def test_a_late_decline_on_a_captured_payment_takes_no_failure_from_a_failed_create(
    stripe_account,
):
    # The same rule at the other door: a failure reported for a payment that
    # moved on (here the create's own decline, answered after a webhook said
    # captured) is not written onto it.
    from integrations.errors import Rejected
    from payments.services.state import mark_failed

    payment = stripe_payment(stripe_account)
    captured = payment_event_apply(payment=payment, kind="succeeded", amount=2000)
    assert captured.status == PaymentStatus.CAPTURED

    row = mark_failed(
        payment,
        Rejected("declined", code="lost_or_stolen", provider_code="lost_card"),
    )

    assert row.status == PaymentStatus.CAPTURED
    payment.refresh_from_db()
    assert (payment.failure_code, payment.failure_provider_code) == ("", "")


def test_a_late_decline_keeps_the_providers_words_for_staff_masked(api, stripe_account):
    payment = stripe_payment(stripe_account)

    failed_webhook(
        stripe_account,
        {**STOPPED, "message": f"Your card was declined. Request used key {CANARY}."},
    )

    payment.refresh_from_db()
    assert payment.failure_code == "stop_payment"
    staff = [
        e.detail for e in payment_timeline(payment) if e.kind == "provider_message"
    ]
    assert staff == [f"Your card was declined. Request used key {MASK}."]
    stored = PaymentNote.objects.values_list("title", "detail")
    assert not [text for pair in stored for text in pair if CANARY in text]
    body = api.get(f"/api/v1/payments/{payment.public_id}/").content.decode()
    assert CANARY not in body and "Request used key" not in body


@responses.activate
def test_a_look_up_decline_keeps_the_providers_words_for_staff_masked(
    stripe_account,
):
    payment = stripe_payment(
        stripe_account, status=PaymentStatus.UNKNOWN, failure_code="outcome_unknown"
    )
    failed = st.intent(
        status="requires_payment_method",
        last_payment_error={**STOPPED, "message": f"Declined; key {CANARY}."},
    )
    responses.get(
        f"https://api.stripe.com/v1/payment_intents/{failed['id']}", json=failed
    )

    payment_reconcile(payment=payment)

    payment.refresh_from_db()
    assert payment.failure_code == "stop_payment"
    staff = [
        e.detail for e in payment_timeline(payment) if e.kind == "provider_message"
    ]
    assert staff == [f"Declined; key {MASK}."]


def test_a_duplicate_late_decline_keeps_one_note(stripe_account):
    payment = stripe_payment(stripe_account)

    failed_webhook(stripe_account, STOPPED)
    # Delivered again (another event id): the payment failed already.
    failed_webhook(stripe_account, {**STOPPED, "decline_code": "insufficient_funds"})

    payment.refresh_from_db()
    assert payment.failure_code == "stop_payment"
    assert PaymentNote.objects.filter(kind="provider_message").count() == 1
