"""Never a double charge, through the service functions against real adapters
and ``responses`` fixtures shaped like the providers' documented answers
(tests/fixtures/<provider>/): Square's delayed capture and cancel by key,
PayPal reconciled by the approved order id, Braintree found by order id,
Stripe's cumulative ``charge.refunded``."""

import copy
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import responses
from django.utils import timezone

from integrations.models import ProviderAccount, WebhookEvent
from payments import services
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.providers.square import square_idempotency_key
from payments.webhooks import payment_webhook_handle
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "retry_after_cap_seconds": 0.5,
    "connect_timeout": 0.5,
    "read_timeout": 0.3,
    "breaker_consecutive_failures": 50,
}


def load(provider: str, name: str) -> dict:
    return json.loads((FIXTURES / provider / name).read_text())


def timeout() -> requests.ReadTimeout:
    return requests.ReadTimeout("read timed out")


def create(**overrides: object) -> Payment:
    values: dict = {
        "order_id": "order-42",
        "amount": 1000,
        "currency": "USD",
        "source_token": "cnon:card-nonce-ok",
        "capture": True,
        "idempotency_key": uuid.uuid4().hex,
    }
    values.update(overrides)
    return services.payment_create(**values)


def paths(rsps: responses.RequestsMock) -> list[str]:
    return [
        f"{c.request.method} {c.request.url.split('?')[0].split('.com', 1)[1]}"
        for c in rsps.calls
    ]


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


# --- Square: always delayed capture, so a lost create is cancellable --------

SQUARE = "https://connect.squareupsandbox.com"
SQ_PAYMENT = "R2B3Z8WMVt3EAmzYWLZvz7Y69EbZY"


@pytest.fixture
def square(db) -> ProviderAccount:
    return ProviderAccountFactory(
        provider="square",
        slug="square-main",
        priority=1,
        settings={**FAST, "location_id": "L88917AVBK2S5"},
        credentials={"access_token": "EAAAl-switchyard-sandbox-token"},
    )


def sq_approved() -> dict:
    return load("square", "create_payment_approved.json")


def sq_completed() -> dict:
    body = sq_approved()
    body["payment"].update(
        status="COMPLETED",
        version_token="56pRkL3slrzet2iQrTp9n0bdJVYTB9YEWdTNjQfZOPV6o",
    )
    return body


def test_square_capture_is_an_approval_then_a_complete(square, rsps):
    rsps.post(f"{SQUARE}/v2/payments", json=sq_approved())
    rsps.get(f"{SQUARE}/v2/payments/{SQ_PAYMENT}", json=sq_approved())
    rsps.post(f"{SQUARE}/v2/payments/{SQ_PAYMENT}/complete", json=sq_completed())

    payment = create()

    assert payment.status == PaymentStatus.CAPTURED
    assert (payment.amount_authorized, payment.amount_captured) == (1000, 1000)
    assert payment.provider_reference == SQ_PAYMENT
    created = json.loads(rsps.calls[0].request.body)
    assert created["autocomplete"] is False
    assert created["delay_action"] == "CANCEL"
    attempts = list(
        payment.attempts.values_list("operation", "outcome", "provider_reference")
    )
    assert attempts == [
        ("authorize", "succeeded", SQ_PAYMENT),
        ("capture", "succeeded", SQ_PAYMENT),
    ]


def test_square_lost_create_is_cancelled_by_key_and_only_then_failed(
    square, rsps, django_capture_on_commit_callbacks
):
    rsps.post(f"{SQUARE}/v2/payments", body=timeout())
    with django_capture_on_commit_callbacks(execute=True):
        payment = create()
    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.provider_reference == ""
    key = payment.attempts.get().idempotency_key

    cancel = rsps.post(
        f"{SQUARE}/v2/payments/cancel",
        json=load("square", "cancel_by_idempotency_key.json"),
    )
    payment = services.payment_reconcile(payment=payment)

    assert cancel.call_count == 1
    sent = json.loads(cancel.calls[0].request.body)
    assert sent == {"idempotency_key": square_idempotency_key(key)}
    # Every create is delayed-capture: the cancel voided whatever it made.
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_code == "cancelled_at_provider"


def test_square_lost_complete_is_reconciled_by_the_stored_reference(
    square, rsps, django_capture_on_commit_callbacks
):
    rsps.post(f"{SQUARE}/v2/payments", json=sq_approved())
    rsps.get(f"{SQUARE}/v2/payments/{SQ_PAYMENT}", json=sq_approved())
    rsps.post(f"{SQUARE}/v2/payments/{SQ_PAYMENT}/complete", body=timeout())
    with django_capture_on_commit_callbacks(execute=True):
        payment = create()
    # The approval and its reference were stored before the complete.
    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.provider_reference == SQ_PAYMENT

    rsps.replace(
        responses.GET, f"{SQUARE}/v2/payments/{SQ_PAYMENT}", json=sq_completed()
    )
    before = len(rsps.calls)
    payment = services.payment_reconcile(payment=payment)

    assert payment.status == PaymentStatus.CAPTURED
    assert payment.amount_captured == 1000
    # Looked up by reference: no cancel by key, no second create.
    assert paths(rsps)[before:] == [f"GET /v2/payments/{SQ_PAYMENT}"]


def test_square_complete_that_never_landed_is_completed_by_reconciliation(square, rsps):
    rsps.post(f"{SQUARE}/v2/payments", json=sq_approved())
    rsps.get(f"{SQUARE}/v2/payments/{SQ_PAYMENT}", json=sq_approved())
    complete = rsps.post(f"{SQUARE}/v2/payments/{SQ_PAYMENT}/complete", body=timeout())
    payment = create()
    assert payment.status == PaymentStatus.UNKNOWN

    rsps.replace(
        responses.POST,
        f"{SQUARE}/v2/payments/{SQ_PAYMENT}/complete",
        json=sq_completed(),
    )
    payment = services.payment_reconcile(payment=payment)

    assert complete.call_count == 2  # the lost one, retried once by the client
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.amount_captured == 1000


def test_square_capture_owed_after_a_crash_is_sent_by_the_periodic_sweep(square, rsps):
    # The process died after Square approved the payment and before it sent
    # the complete: no one-off reconciliation was ever scheduled.
    payment = Payment.objects.create(
        order_id="order-42",
        amount=1000,
        currency="USD",
        status=PaymentStatus.AUTHORIZED,
        amount_authorized=1000,
        capture_requested=True,
        account=square,
        provider_reference=SQ_PAYMENT,
    )
    rsps.get(f"{SQUARE}/v2/payments/{SQ_PAYMENT}", json=sq_approved())
    complete = rsps.post(
        f"{SQUARE}/v2/payments/{SQ_PAYMENT}/complete", json=sq_completed()
    )

    assert services.payments_reconcile_pending() == []  # too young: left alone
    later = timezone.now() + timedelta(hours=1)
    settled = services.payments_reconcile_pending(now=later)

    assert [p.pk for p in settled] == [payment.pk]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.amount_captured == 1000
    assert complete.call_count == 1


def test_square_cancel_that_cannot_be_confirmed_leaves_the_payment_unknown(
    square, rsps, monkeypatch
):
    from payments.providers.square import SquareAdapter

    rsps.post(f"{SQUARE}/v2/payments", body=timeout())
    payment = create()
    monkeypatch.setattr(SquareAdapter, "cancel_by_idempotency_key", lambda s, k: False)

    payment = services.payment_reconcile(payment=payment)

    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.failure_code == "reconcile_manually"
    # Never left silent: in the review queue for staff.
    assert payment.review_state == "pending"


# --- PayPal: the approved order id is the reference from the start ----------

PAYPAL = "https://api-m.sandbox.paypal.com"
ORDER = "5O190127TN364715T"


@pytest.fixture
def paypal(db) -> ProviderAccount:
    return ProviderAccountFactory(
        provider="paypal",
        slug="paypal-main",
        priority=1,
        settings=dict(FAST),
        credentials={"client_id": "AbCdEf-client", "client_secret": "EFgh-secret"},
    )


@pytest.fixture
def pp(rsps):
    rsps.post(f"{PAYPAL}/v1/oauth2/token", json=load("paypal", "oauth_token.json"))
    return rsps


def test_paypal_timed_out_capture_is_reconciled_by_the_order_id(
    paypal, pp, django_capture_on_commit_callbacks
):
    pp.get(
        f"{PAYPAL}/v2/checkout/orders/{ORDER}",
        json=load("paypal", "order_approved_capture.json"),
    )
    pp.post(f"{PAYPAL}/v2/checkout/orders/{ORDER}/capture", body=timeout())
    with django_capture_on_commit_callbacks(execute=True):
        payment = create(order_id="order-1001", amount=1050, source_token=ORDER)

    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.provider_reference == ORDER
    attempt = payment.attempts.get()
    assert (attempt.outcome, attempt.provider_reference) == ("unknown", ORDER)

    pp.replace(
        responses.GET,
        f"{PAYPAL}/v2/checkout/orders/{ORDER}",
        json=load("paypal", "order_captured.json"),
    )
    payment = services.payment_reconcile(payment=payment)

    assert payment.status == PaymentStatus.CAPTURED
    assert payment.amount_captured == 1050


def test_paypal_order_still_only_approved_stays_unknown(paypal, pp):
    pp.get(
        f"{PAYPAL}/v2/checkout/orders/{ORDER}",
        json=load("paypal", "order_approved_capture.json"),
    )
    pp.post(f"{PAYPAL}/v2/checkout/orders/{ORDER}/capture", body=timeout())
    payment = create(order_id="order-1001", amount=1050, source_token=ORDER)

    payment = services.payment_reconcile(payment=payment)

    # Not captured, but the capture may still land: never guessed failed.
    assert payment.status == PaymentStatus.UNKNOWN


# --- Stripe: charge.refunded carries the cumulative amount_refunded ---------

STRIPE = "https://api.stripe.com"
INTENT = "pi_1PgafyB7WZ01zgkWSjxsAJo3"


@pytest.fixture
def stripe_account(db) -> ProviderAccount:
    return ProviderAccountFactory(
        provider="stripe",
        slug="stripe-main",
        settings=dict(FAST),
        credentials={"secret_key": "sk_test_51Switchyard", "webhook_secret": "whsec_x"},
    )


@pytest.fixture
def captured(stripe_account) -> Payment:
    return Payment.objects.create(
        order_id="order-42",
        amount=1000,
        currency="EUR",
        status=PaymentStatus.CAPTURED,
        amount_authorized=1000,
        amount_captured=1000,
        account=stripe_account,
        provider_reference=INTENT,
    )


def charge_refunded(total: int, *refund_ids: str) -> WebhookEvent:
    charge = load("stripe", "charge.json")
    charge.update(
        amount=1000,
        amount_captured=1000,
        currency="eur",
        payment_intent=INTENT,
        amount_refunded=total,
        refunded=total == 1000,
    )
    # Newest first, as Stripe lists them (absent on newer API versions).
    charge["refunds"]["data"] = [
        {**load("stripe", "refund.json"), "id": rid} for rid in refund_ids
    ]
    event = copy.deepcopy(load("stripe", "event.json"))
    event.update(id=f"evt_{uuid.uuid4().hex[:24]}", type="charge.refunded")
    event["data"] = {"object": charge}
    return WebhookEvent(
        account=captured_account(),
        event_type="charge.refunded",
        dedupe_key=event["id"],
        payload=event,
    )


def captured_account() -> ProviderAccount:
    return ProviderAccount.objects.get(slug="stripe-main")


def test_stripe_lost_create_not_found_by_search_is_not_failed_while_search_lags(
    stripe_account, rsps
):
    rsps.post(f"{STRIPE}/v1/payment_intents", body=timeout())
    payment = create(source_token="pm_card_visa", currency="EUR")
    assert payment.status == PaymentStatus.UNKNOWN
    empty = {
        "object": "search_result",
        "data": [],
        "has_more": False,
        "next_page": None,
        "url": "/v1/payment_intents/search",
    }
    rsps.get(f"{STRIPE}/v1/payment_intents/search", json=empty)

    # Stripe's search can lag behind writes: a miss minutes after the create
    # proves nothing, so the payment stays unknown and is asked again.
    payment = services.payment_reconcile(payment=payment)
    assert payment.status == PaymentStatus.UNKNOWN

    # Past the lag, a miss means the create never landed.
    Payment.objects.filter(pk=payment.pk).update(
        created_at=payment.created_at - timedelta(hours=2)
    )
    payment = services.payment_reconcile(payment=payment)
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_code == "not_found_at_provider"


def stripe_refund(rsps, refund_id: str, amount: int, **kw) -> None:
    body = {**load("stripe", "refund.json"), "id": refund_id, "amount": amount}
    rsps.post(f"{STRIPE}/v1/refunds", json=body, **kw)


def refunded(payment: Payment) -> tuple[int, str, int]:
    payment.refresh_from_db()
    return payment.amount_refunded, payment.status, payment.refunds.count()


def test_stripe_charge_refunded_is_cumulative_and_never_double_counts(captured, rsps):
    stripe_refund(rsps, "re_ours_1", 300)
    ours = services.payment_refund(payment=captured, amount=300)
    assert ours.status == RefundStatus.SUCCEEDED
    assert refunded(captured) == (300, PaymentStatus.PARTIALLY_REFUNDED, 1)

    # The event for our own refund, and its duplicate: nothing new.
    payment_webhook_handle(charge_refunded(300, "re_ours_1"))
    payment_webhook_handle(charge_refunded(300, "re_ours_1"))
    assert refunded(captured) == (300, PaymentStatus.PARTIALLY_REFUNDED, 1)

    # A refund made in Stripe's dashboard: total 500 -> 200 more, not 500.
    payment_webhook_handle(charge_refunded(500, "re_dash_2", "re_ours_1"))
    assert refunded(captured) == (500, PaymentStatus.PARTIALLY_REFUNDED, 2)
    assert Refund.objects.get(provider_reference="re_dash_2").amount == 200

    # A late, smaller total never moves back; without the refunds list
    # (newer API versions) the total alone is enough.
    payment_webhook_handle(charge_refunded(300, "re_ours_1"))
    payment_webhook_handle(charge_refunded(500))
    assert refunded(captured) == (500, PaymentStatus.PARTIALLY_REFUNDED, 2)

    payment_webhook_handle(charge_refunded(1000))
    assert refunded(captured) == (1000, PaymentStatus.REFUNDED, 3)


def test_stripe_total_does_not_count_our_refund_still_in_flight(captured, rsps):
    # Our refund's answer is lost (500 twice): unknown, still reserved.
    rsps.post(
        f"{STRIPE}/v1/refunds",
        json=load("stripe", "errors.json")["api_error"],
        status=500,
    )
    ours = services.payment_refund(payment=captured, amount=400)
    assert ours.status == RefundStatus.UNKNOWN

    # Stripe did make it, and says so before we know.
    payment_webhook_handle(charge_refunded(400, "re_ours_1"))
    assert refunded(captured) == (0, PaymentStatus.CAPTURED, 1)

    # Reconciliation re-sends with the same key; Stripe replays its answer.
    rsps.replace(
        responses.POST,
        f"{STRIPE}/v1/refunds",
        json={**load("stripe", "refund.json"), "id": "re_ours_1", "amount": 400},
    )
    services.payment_reconcile(payment=captured)
    ours.refresh_from_db()
    assert ours.status == RefundStatus.SUCCEEDED
    assert refunded(captured) == (400, PaymentStatus.PARTIALLY_REFUNDED, 1)

    payment_webhook_handle(charge_refunded(400, "re_ours_1"))
    assert refunded(captured) == (400, PaymentStatus.PARTIALLY_REFUNDED, 1)


# --- Braintree: found by order id + amount; partial captures -----------------

BT_MERCHANT = "switchyard_merchant"
BT_BASE = f"https://api.sandbox.braintreegateway.com:443/merchants/{BT_MERCHANT}"
BT_TXN = "k9y7n3pq"
XML = {"content_type": "application/xml; charset=utf-8"}


def bt(name: str) -> str:
    return (FIXTURES / "braintree" / name).read_text()


@pytest.fixture
def braintree_account(db) -> ProviderAccount:
    return ProviderAccountFactory(
        provider="braintree",
        slug="braintree-main",
        priority=1,
        settings=dict(FAST),
        credentials={
            "merchant_id": BT_MERCHANT,
            "public_key": "x8t4pq2kz6w9yj3n",
            "private_key": "5c1e9a7f3b2d4e6f8a0b1c2d3e4f5a6b",
        },
    )


def bt_lost_sale(rsps) -> Payment:
    rsps.post(f"{BT_BASE}/transactions", body=timeout())
    payment = create(order_id="order-1001", amount=1050, capture=False)
    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.provider_reference == ""
    return payment


def test_braintree_lost_sale_is_found_by_order_id_and_amount(braintree_account, rsps):
    from braintree.util.xml_util import XmlUtil

    payment = bt_lost_sale(rsps)
    ids = rsps.post(
        f"{BT_BASE}/transactions/advanced_search_ids",
        body=bt("transaction_search_ids.xml"),
        **XML,
    )
    rsps.post(
        f"{BT_BASE}/transactions/advanced_search",
        body=bt("transaction_search_authorized.xml"),
        **XML,
    )

    payment = services.payment_reconcile(payment=payment)

    assert payment.status == PaymentStatus.AUTHORIZED
    assert payment.provider_reference == BT_TXN
    assert payment.amount_authorized == 1050
    search = XmlUtil.dict_from_xml(ids.calls[0].request.body)["search"]
    assert search["order_id"] == {"is": "order-1001"}
    assert search["amount"] == {"min": "10.50", "max": "10.50"}
    assert search["type"] == ["sale"]
    assert "min" in search["created_at"]


def test_braintree_nothing_found_is_failed_only_after_the_search_lag(
    braintree_account, rsps
):
    payment = bt_lost_sale(rsps)
    rsps.post(
        f"{BT_BASE}/transactions/advanced_search_ids",
        body=bt("transaction_search_ids.xml").replace("<item>k9y7n3pq</item>", ""),
        **XML,
    )

    # Braintree's search index lags behind a new sale: a miss proves nothing
    # yet, so the payment stays unknown and is asked again.
    payment = services.payment_reconcile(payment=payment)
    assert payment.status == PaymentStatus.UNKNOWN

    Payment.objects.filter(pk=payment.pk).update(
        created_at=payment.created_at - timedelta(hours=2)
    )
    payment = services.payment_reconcile(payment=payment)

    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_code == "not_found_at_provider"


def test_braintree_two_live_matches_stay_unknown_for_staff(braintree_account, rsps):
    payment = bt_lost_sale(rsps)
    two = bt("transaction_search_authorized.xml")
    transaction = two[two.index("  <transaction>") : two.rindex("</credit-card")]
    two = two.replace(
        transaction, transaction + transaction.replace(BT_TXN, "m2x8r4tw")
    )
    rsps.post(
        f"{BT_BASE}/transactions/advanced_search_ids",
        body=bt("transaction_search_ids.xml").replace(
            "<item>k9y7n3pq</item>", "<item>k9y7n3pq</item><item>m2x8r4tw</item>"
        ),
        **XML,
    )
    rsps.post(f"{BT_BASE}/transactions/advanced_search", body=two, **XML)

    payment = services.payment_reconcile(payment=payment)

    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.failure_code == "reconcile_manually"
    # Never left silent: in the review queue for staff.
    assert payment.review_state == "pending"


def test_braintree_search_hit_owned_by_another_payment_stays_unknown(
    braintree_account, rsps
):
    Payment.objects.create(
        order_id="order-1001",
        amount=1050,
        currency="USD",
        status=PaymentStatus.AUTHORIZED,
        amount_authorized=1050,
        account=braintree_account,
        provider_reference=BT_TXN,
    )
    payment = bt_lost_sale(rsps)
    rsps.post(
        f"{BT_BASE}/transactions/advanced_search_ids",
        body=bt("transaction_search_ids.xml"),
        **XML,
    )
    rsps.post(
        f"{BT_BASE}/transactions/advanced_search",
        body=bt("transaction_search_authorized.xml"),
        **XML,
    )

    payment = services.payment_reconcile(payment=payment)

    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.failure_code == "reconcile_manually"
    # Never left silent: in the review queue for staff.
    assert payment.review_state == "pending"


def test_braintree_service_captures_are_final_so_refunds_name_the_sale(
    braintree_account, rsps
):
    from braintree.util.xml_util import XmlUtil

    rsps.post(
        f"{BT_BASE}/transactions",
        status=201,
        body=bt("transaction_authorized.xml"),
        **XML,
    )
    payment = create(order_id="order-1001", amount=1050, capture=False)
    assert payment.status == PaymentStatus.AUTHORIZED
    settle = rsps.put(
        f"{BT_BASE}/transactions/{BT_TXN}/submit_for_settlement",
        body=bt("transaction_submitted_for_settlement.xml"),
        **XML,
    )

    payment = services.payment_capture(payment=payment, amount=800)

    # submit_for_settlement (final) with the amount: no child transaction.
    assert settle.call_count == 1
    sent = XmlUtil.dict_from_xml(settle.calls[0].request.body)["transaction"]
    assert sent["amount"] == "8.00"
    assert payment.status == PaymentStatus.CAPTURED
    capture = payment.attempts.get(operation="capture")
    assert capture.provider_reference == BT_TXN
