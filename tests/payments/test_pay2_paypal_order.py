"""An approved PayPal order pays only the order it was made for: one whose
purchase unit names another order id (``reference_id``, or ``custom_id``
where ``reference_id`` is PayPal's ``default``) is refused before anything
is captured. An order made without our ids keeps the amount check alone.
Orders shaped like tests/fixtures/paypal/order_approved_capture.json
(Orders v2: ``purchase_units[].reference_id`` 256, ``custom_id`` 127)."""

import uuid

import pytest

from payments import services
from payments.models import PaymentStatus
from tests.payments.paypal_orders import ORDER, ORDER_URL, load, paypal_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def pp(db):
    with paypal_account() as rsps:
        rsps.post(f"{ORDER_URL}/capture", status=201, json=load("order_captured.json"))
        yield rsps


def approved(**unit: str | None) -> dict:
    """The approved order with its purchase unit's ids set (None: absent)."""
    order = load("order_approved_capture.json")
    for name, value in unit.items():
        if value is None:
            order["purchase_units"][0].pop(name, None)
        else:
            order["purchase_units"][0][name] = value
    return order


def captures(rsps) -> list:
    return [c for c in rsps.calls if c.request.url == f"{ORDER_URL}/capture"]


def pay(order_id: str):
    return services.payment_create(
        order_id=order_id,
        amount=1050,
        currency="USD",
        source_token=ORDER,
        capture=True,
        idempotency_key=uuid.uuid4().hex,
    )


def test_the_api_refuses_an_order_made_for_another_order(pp, api):
    # The fixture's order was made for order-1001; the storefront sends it
    # for order-2002, of the same amount.
    pp.get(ORDER_URL, json=load("order_approved_capture.json"))

    response = api.post(
        "/api/v1/payments/",
        {
            "order_id": "order-2002",
            "amount": 1050,
            "currency": "USD",
            "source_token": ORDER,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-2002",
    )

    assert response.status_code == 402, response.json()
    error = response.json()["error"]
    assert error["code"] == "order_mismatch"
    assert "order-1001" not in error["message"]
    assert response.json()["payment"]["status"] == "failed"
    assert response.json()["payment"]["amount_captured"] == 0
    assert not captures(pp)


def test_a_custom_id_naming_another_order_is_refused(pp):
    pp.get(ORDER_URL, json=approved(reference_id="default", custom_id="order-1001"))

    payment = pay("order-2002")

    assert (payment.status, payment.failure_code) == ("failed", "order_mismatch")
    assert payment.amount_captured == 0
    assert not captures(pp)


def test_an_order_id_differing_past_custom_ids_127_characters_is_refused(pp):
    mine, other = "a" * 127 + "b", "a" * 128
    pp.get(ORDER_URL, json=approved(reference_id=other, custom_id=other[:127]))

    payment = pay(mine)

    assert (payment.status, payment.failure_code) == ("failed", "order_mismatch")
    assert not captures(pp)


def test_an_order_made_for_this_order_is_captured(pp):
    mine = "a" * 128
    pp.get(ORDER_URL, json=approved(reference_id=mine, custom_id=mine[:127]))

    payment = pay(mine)

    assert (payment.status, payment.amount_captured) == (PaymentStatus.CAPTURED, 1050)
    assert len(captures(pp)) == 1


def test_an_order_made_without_our_ids_keeps_the_amount_check(pp):
    # Made by the storefront without reference_id: PayPal answers "default"
    # and no custom_id; nothing names an order, so the amount decides.
    pp.get(ORDER_URL, json=approved(reference_id="default", custom_id=None))

    payment = pay("order-2002")

    assert (payment.status, payment.amount_captured) == (PaymentStatus.CAPTURED, 1050)


def test_an_order_made_without_our_ids_for_another_amount_is_still_refused(pp):
    order = approved(reference_id="default", custom_id=None)
    order["purchase_units"][0]["amount"]["value"] = "10.51"
    pp.get(ORDER_URL, json=order)

    payment = pay("order-2002")

    assert (payment.status, payment.failure_code) == ("failed", "amount_mismatch")
    assert not captures(pp)
