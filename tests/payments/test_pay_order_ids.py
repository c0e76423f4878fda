"""Settle by hand compares a gateway's charge on our full order id where the
gateway keeps one: Square's ``reference_id`` holds 40 characters (our order
ids up to 128), so a longer id also goes whole into the payment's ``note``
(500); PayPal's purchase unit ``reference_id`` (256) holds it whole where
``custom_id`` (127) may cut it. Answers shaped like the published examples
(tests/fixtures/square/, tests/fixtures/paypal/)."""

import json

import pytest
import responses

from payments import services
from payments.models import Payment, PaymentStatus
from payments.providers.base import PaymentRequest
from payments.providers.square import SquareAdapter
from tests.payments.test_reconcile_providers import FAST, SQUARE, load, timeout

pytestmark = pytest.mark.django_db

SQ_PAYMENT = "R2B3Z8WMVt3EAmzYWLZvz7Y69EbZY"
LONG = "order-" + "7" * 54  # 60 characters: more than Square's 40
SAME_START = LONG[:40] + "8" * 20  # another order, the same first 40

PAYPAL = "https://api-m.sandbox.paypal.com"
PP_ORDER = "5O190127TN364715T"
PP_ORDER_URL = f"{PAYPAL}/v2/checkout/orders/{PP_ORDER}"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _settle(payment: Payment, reference: str) -> Payment:
    return services.payment_settle_by_hand(
        payment=payment,
        outcome="captured",
        provider_reference=reference,
        note="checked in the dashboard",
        actor="staff",
    )


# --- Square -------------------------------------------------------------------


@pytest.fixture
def square(db):
    from tests.factories import ProviderAccountFactory

    return ProviderAccountFactory(
        provider="square",
        slug="square-main",
        priority=1,
        settings={**FAST, "location_id": "L88917AVBK2S5"},
        credentials={"access_token": "EAAAl-switchyard-sandbox-token"},
    )


def _square_lost(rsps, order_id: str) -> Payment:
    rsps.post(f"{SQUARE}/v2/payments", body=timeout())
    payment = services.payment_create(
        order_id=order_id,
        amount=1000,
        currency="USD",
        source_token="cnon:card-nonce-ok",
        capture=True,
        idempotency_key=f"key-{order_id[-3:]}",
    )
    assert (payment.status, payment.provider_reference) == ("unknown", "")
    return payment


def _square_charge(rsps, *, reference_id: str, note: str | None) -> None:
    body = load("square", "get_payment.json")
    money = {"amount": 1000, "currency": "USD"}
    body["payment"].update(
        id=SQ_PAYMENT,
        status="COMPLETED",
        amount_money=money,
        approved_money=money,
        total_money=money,
        reference_id=reference_id,
    )
    body["payment"].pop("note", None)
    if note is not None:
        body["payment"]["note"] = note
    rsps.get(f"{SQUARE}/v2/payments/{SQ_PAYMENT}", json=body)


def test_square_gets_a_long_order_id_whole_in_the_note(square, rsps):
    create = rsps.post(
        f"{SQUARE}/v2/payments", json=load("square", "create_payment_approved.json")
    )
    adapter = SquareAdapter(square)
    request = PaymentRequest(
        amount=1000,
        currency="USD",
        source_token="cnon:card-nonce-ok",
        capture=False,
        idempotency_key="k-1",
        order_id=LONG,
        description="2 mugs",
    )

    adapter.authorize(request)

    sent = json.loads(create.calls[0].request.body)
    assert sent["reference_id"] == LONG[:40]
    assert sent["note"] == f"order_id: {LONG}\n2 mugs"


def test_square_charge_of_another_order_with_the_same_first_40_is_refused(square, rsps):
    payment = _square_lost(rsps, LONG)
    _square_charge(rsps, reference_id=SAME_START[:40], note=f"order_id: {SAME_START}")

    with pytest.raises(services.SettleRefused):
        _settle(payment, SQ_PAYMENT)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN


def test_square_charge_of_this_long_order_is_settled(square, rsps):
    payment = _square_lost(rsps, LONG)
    _square_charge(rsps, reference_id=LONG[:40], note=f"order_id: {LONG}")

    payment = _settle(payment, SQ_PAYMENT)

    assert (payment.status, payment.amount_captured) == ("captured", 1000)


def test_square_charge_of_another_short_order_is_refused(square, rsps):
    payment = _square_lost(rsps, "order-42")
    _square_charge(rsps, reference_id="order-43", note=None)

    with pytest.raises(services.SettleRefused):
        _settle(payment, SQ_PAYMENT)


def test_square_charge_of_this_short_order_is_settled(square, rsps):
    payment = _square_lost(rsps, "order-42")
    _square_charge(rsps, reference_id="order-42", note="Brief Description")

    payment = _settle(payment, SQ_PAYMENT)

    assert payment.status == "captured"


# --- PayPal -------------------------------------------------------------------


@pytest.fixture
def paypal(db, rsps):
    from tests.factories import ProviderAccountFactory

    rsps.post(f"{PAYPAL}/v1/oauth2/token", json=load("paypal", "oauth_token.json"))
    return ProviderAccountFactory(
        provider="paypal",
        slug="paypal-main",
        priority=1,
        settings=dict(FAST),
        credentials={"client_id": "AbCdEf-client", "client_secret": "EFgh-secret"},
    )


def _paypal_order(name: str, order_id: str) -> dict:
    order = load("paypal", name)
    order["purchase_units"][0].update(reference_id=order_id, custom_id=order_id[:127])
    return order


def _paypal_lost(rsps, order_id: str) -> Payment:
    rsps.get(PP_ORDER_URL, json=_paypal_order("order_approved_capture.json", order_id))
    rsps.post(
        f"{PP_ORDER_URL}/capture",
        status=500,
        json=load("paypal", "error_internal.json"),
    )
    payment = services.payment_create(
        order_id=order_id,
        amount=1050,
        currency="USD",
        source_token=PP_ORDER,
        capture=True,
        idempotency_key=f"key-{order_id[-3:]}",
    )
    assert (payment.status, payment.provider_reference) == ("unknown", PP_ORDER)
    return payment


def test_paypal_order_of_another_order_id_is_refused(paypal, rsps):
    mine = "a" * 128
    payment = _paypal_lost(rsps, mine)
    # Another order whose id differs only in its 128th character: PayPal's
    # custom_id (127) is the same, its reference_id (256) is not.
    other = "a" * 127 + "b"
    rsps.replace(
        responses.GET, PP_ORDER_URL, json=_paypal_order("order_captured.json", other)
    )

    with pytest.raises(services.SettleRefused):
        _settle(payment, PP_ORDER)


def test_paypal_order_of_this_order_id_is_settled(paypal, rsps):
    mine = "a" * 128
    payment = _paypal_lost(rsps, mine)
    rsps.replace(
        responses.GET, PP_ORDER_URL, json=_paypal_order("order_captured.json", mine)
    )

    payment = _settle(payment, PP_ORDER)

    assert (payment.status, payment.amount_captured) == ("captured", 1050)


def test_paypal_order_made_without_our_ids_is_compared_on_amount_only(paypal, rsps):
    # An order the storefront created itself, without reference_id: PayPal
    # answers "default" and no custom_id; nothing names the order, as before.
    payment = _paypal_lost(rsps, "order-42")
    order = load("paypal", "order_captured.json")
    order["purchase_units"][0].update(reference_id="default")
    order["purchase_units"][0].pop("custom_id")
    rsps.replace(responses.GET, PP_ORDER_URL, json=order)

    payment = _settle(payment, PP_ORDER)

    assert payment.status == "captured"
