"""The provider's word on money wins (issue 17, part 1), from the providers'
published life cycles: each webhook is built from the provider's documented
example (tests/fixtures/<provider>/, see each README) or its SDK's own sample
notification, parsed by the real adapter and applied by the real handler.

- Stripe: ``payment_intent.payment_failed`` is not final; the intent returns to
  ``requires_payment_method`` and may still succeed (fixture: event.json with
  payment_intent.json, from stripe/openapi fixtures3.json).
- Braintree: ``transaction_settlement_declined`` after submission for
  settlement (the SDK's ``webhook_testing.sample_notification``).
- Square: a payment ``FAILED`` after ``APPROVED`` (webhook_payment_updated.json,
  Square's payment.updated example).
- PayPal: a capture ``DENIED`` after ``PENDING`` (event_capture_denied.json,
  PayPal's PAYMENT.CAPTURE.DENIED sample).
"""

import json

import pytest

from integrations.models import Event, WebhookEvent
from payments.models import (
    NOT_COLLECTED,
    Payment,
    PaymentStatus,
    ReviewReason,
    ReviewState,
)
from payments.providers.braintree import BraintreeAdapter
from payments.selectors import payment_timeline
from payments.services import (
    InvalidState,
    payment_event_apply,
    payment_review_approve,
    payment_review_reject,
)
from payments.webhooks import payment_webhook_handle
from tests.factories import ProviderAccountFactory
from tests.payments.providers import test_braintree, test_paypal, test_square
from tests.payments.providers import test_stripe as stripe_tests

pytestmark = pytest.mark.django_db


def make_payment(account, reference: str, **fields) -> Payment:
    values = {
        "order_id": "order-1",
        "amount": 2000,
        "currency": "EUR",
        "account": account,
        "provider_reference": reference,
        "idempotency_key": f"key-{reference}",
    }
    values.update(fields)
    return Payment.objects.create(**values)


def handle(account, event_type: str, payload: dict, key: str) -> Payment:
    event = WebhookEvent.objects.create(
        account=account,
        event_type=event_type,
        dedupe_key=key,
        payload=payload,
        raw_body=json.dumps(payload).encode(),
        headers={},
    )
    payment_webhook_handle(event)
    return Payment.objects.get(account=account)


def events_named(name: str, payment: Payment) -> list[Event]:
    return list(Event.objects.filter(name=name, subject=f"payment:{payment.public_id}"))


def stripe_event(event_type: str, **intent_changes) -> dict:
    body = json.loads(
        stripe_tests.event(event_type, stripe_tests.intent(**intent_changes))
    )
    return body


def test_stripe_failed_then_succeeded_ends_captured_in_review():
    account = ProviderAccountFactory(provider="stripe", slug="stripe-main")
    failed_intent = stripe_event(
        "payment_intent.payment_failed",
        status="requires_payment_method",
        last_payment_error={"code": "card_declined"},
    )
    reference = failed_intent["data"]["object"]["id"]
    make_payment(account, reference, amount=2000)

    payment = handle(account, "payment_intent.payment_failed", failed_intent, "e1")
    assert payment.status == PaymentStatus.FAILED
    succeeded = stripe_event(
        "payment_intent.succeeded", status="succeeded", amount_received=2000
    )
    succeeded["id"] = "evt_second"
    payment = handle(account, "payment_intent.succeeded", succeeded, "e2")

    assert (payment.status, payment.amount_captured) == (PaymentStatus.CAPTURED, 2000)
    assert (payment.review_state, payment.review_reason) == (
        ReviewState.PENDING,
        ReviewReason.PROVIDER_CONTRADICTION,
    )
    captured = events_named("payment.captured", payment)
    assert len(captured) == 1
    assert captured[0].payload["corrected_from"] == PaymentStatus.FAILED
    assert payment.failure_code == ""
    titles = [entry.title for entry in payment_timeline(payment)]
    assert any("failed -> captured" in title for title in titles)


def test_stripe_late_payment_failed_never_undoes_a_success():
    account = ProviderAccountFactory(provider="stripe", slug="stripe-main")
    succeeded = stripe_event(
        "payment_intent.succeeded", status="succeeded", amount_received=2000
    )
    make_payment(account, succeeded["data"]["object"]["id"])
    handle(account, "payment_intent.succeeded", succeeded, "e1")
    late = stripe_event(
        "payment_intent.payment_failed", status="requires_payment_method"
    )

    payment = handle(account, "payment_intent.payment_failed", late, "e2")

    assert payment.status == PaymentStatus.CAPTURED
    assert payment.review_state == ReviewState.NONE


def test_braintree_settlement_declined_after_submission_ends_failed_in_review():
    account = ProviderAccountFactory(
        provider="braintree",
        slug="braintree-main",
        credentials={
            "merchant_id": test_braintree.MERCHANT,
            "public_key": test_braintree.PUBLIC_KEY,
            "private_key": test_braintree.PRIVATE_KEY,
        },
    )
    txn = test_braintree.TXN
    make_payment(
        account,
        txn,
        currency="USD",
        amount=10000,
        status=PaymentStatus.CAPTURED,
        amount_authorized=10000,
        amount_captured=10000,
    )
    message = BraintreeAdapter(account).verify_webhook(
        body=test_braintree.notification("transaction_settlement_declined", txn),
        headers={},
        url="",
    )

    payment = handle(account, message.event_type, message.payload, message.dedupe_key)

    assert payment.status == PaymentStatus.FAILED
    assert (payment.amount_captured, payment.failure_code) == (0, NOT_COLLECTED)
    assert payment.review_reason == ReviewReason.PROVIDER_CONTRADICTION
    failed = events_named("payment.failed", payment)
    assert [e.payload["corrected_from"] for e in failed] == [PaymentStatus.CAPTURED]
    # Final: a late settled notification does not bring it back.
    again = payment_event_apply(payment=payment, kind="succeeded", amount=10000)
    assert again.status == PaymentStatus.FAILED


def test_square_failed_after_approved_ends_failed_in_review():
    account = ProviderAccountFactory(
        provider="square",
        slug="square-main",
        credentials={"access_token": "t", "webhook_signature_key": "k"},
    )
    body = test_square.load("webhook_payment_updated.json")
    square_payment = body["data"]["object"]["payment"]
    make_payment(
        account,
        square_payment["id"],
        currency="USD",
        amount=100,
        status=PaymentStatus.AUTHORIZED,
        amount_authorized=100,
    )
    square_payment["status"] = "FAILED"

    payment = handle(account, body["type"], body, body["event_id"])

    assert (payment.status, payment.amount_authorized) == (PaymentStatus.FAILED, 0)
    assert payment.review_state == ReviewState.PENDING
    assert len(events_named("payment.failed", payment)) == 1


def test_paypal_capture_denied_after_pending_ends_failed():
    account = ProviderAccountFactory(provider="paypal", slug="paypal-main")
    body = test_paypal.load("event_capture_denied.json")
    make_payment(account, test_paypal.ORDER, currency="USD", amount=1050)

    payment = handle(account, body["event_type"], body, body["id"])

    assert payment.status == PaymentStatus.FAILED
    assert len(events_named("payment.failed", payment)) == 1
    # The storefront was told "pending", never "paid": nothing to review.
    assert payment.review_state == ReviewState.NONE


def test_paypal_capture_denied_after_completed_is_a_contradiction():
    account = ProviderAccountFactory(provider="paypal", slug="paypal-main")
    body = test_paypal.load("event_capture_denied.json")
    make_payment(
        account,
        test_paypal.ORDER,
        currency="USD",
        amount=1050,
        status=PaymentStatus.CAPTURED,
        amount_authorized=1050,
        amount_captured=1050,
    )

    payment = handle(account, body["event_type"], body, body["id"])

    assert (payment.status, payment.amount_captured) == (PaymentStatus.FAILED, 0)
    assert payment.review_reason == ReviewReason.PROVIDER_CONTRADICTION


def test_refunded_money_is_never_uncollected_by_a_late_decline(primary):
    payment = make_payment(
        primary,
        "ch_sbx_1",
        status=PaymentStatus.PARTIALLY_REFUNDED,
        amount_authorized=2000,
        amount_captured=2000,
        amount_refunded=500,
    )

    after = payment_event_apply(payment=payment, kind="failed_final")

    assert after.status == PaymentStatus.PARTIALLY_REFUNDED
    assert after.amount_captured == 2000


def test_a_corrected_payment_is_acknowledged_not_captured_by_review(primary):
    payment = make_payment(
        primary,
        "ch_sbx_2",
        status=PaymentStatus.CAPTURED,
        amount_authorized=2000,
        amount_captured=2000,
    )
    payment = payment_event_apply(payment=payment, kind="failed_final")
    assert payment.review_state == ReviewState.PENDING

    with pytest.raises(InvalidState):
        payment_review_reject(payment=payment, actor="staff")
    approved = payment_review_approve(payment=payment, actor="staff")

    assert (approved.status, approved.review_state) == (
        PaymentStatus.FAILED,
        ReviewState.APPROVED,
    )
    assert not approved.attempts.exists()  # nothing was sent to the gateway
