"""pay40: a saved card's own gateway id (``pm_sbx_...``) is no one-time token.

The real gateways charge a vaulted card only with the customer it belongs
to: Stripe refuses a PaymentIntent on a customer's PaymentMethod without
that ``customer`` (or with another), Square a card on file without its
``customer_id``, Braintree a ``payment_method_token`` with another
``customer_id`` (91516) and a vault token sent as a nonce; PayPal has no
such charge. The sandbox does the same, so a storefront request of one
customer cannot charge another's saved card by its id."""

import uuid

import pytest

from integrations.errors import Rejected
from payments import services
from payments.models import Payment, PaymentStatus, SandboxCharge
from payments.providers.base import PaymentRequest
from payments.providers.sandbox import SandboxPaymentsAdapter

pytestmark = pytest.mark.django_db

URL = "/api/v1/payments/"


@pytest.fixture
def alice_card(primary):
    return services.payment_method_save(
        customer_reference="alice-40",
        source_token="tok_success",
        idempotency_key="pay40-alice",
    )


def charges() -> int:
    return SandboxCharge.objects.filter(kind="payment").count()


def request(token: str, customer: str = "", **extra: object) -> PaymentRequest:
    return PaymentRequest(
        amount=900,
        currency="EUR",
        source_token=token,
        capture=True,
        idempotency_key=uuid.uuid4().hex,
        order_id="o-40",
        provider_customer_id=customer,
        **extra,
    )


def test_another_customers_request_cannot_charge_a_saved_card_by_its_id(
    api, primary, alice_card
):
    response = api.post(
        URL,
        {
            "order_id": "mallory-1",
            "amount": 5_000,
            "currency": "EUR",
            "source_token": alice_card.provider_method_id,
            "customer_reference": "mallory-40",
        },
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    # Refused at our API before any gateway call (pay41; the gateway's own
    # refusal, a failed payment stored, was the answer before).
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "invalid_source_token"
    assert charges() == 0
    assert not Payment.objects.filter(order_id="mallory-1").exists()
    # Nothing says whose card it was.
    assert "alice" not in response.content.decode()
    assert alice_card.provider_customer_id not in response.content.decode()


@pytest.mark.parametrize("off_session", [True, False])
def test_the_sandbox_refuses_a_saved_card_without_its_customer(
    primary, alice_card, off_session
):
    adapter = SandboxPaymentsAdapter(primary)
    call = adapter.charge_saved if off_session else adapter.authorize
    with pytest.raises(Rejected) as refused:
        call(request(alice_card.provider_method_id, off_session=off_session))
    assert refused.value.http_status == 400
    assert alice_card.provider_customer_id not in str(refused.value)
    assert charges() == 0


def test_the_sandbox_refuses_a_saved_card_with_another_customer(primary, alice_card):
    bob = services.payment_method_save(
        customer_reference="bob-40", source_token="tok_visa", idempotency_key="b40"
    )
    adapter = SandboxPaymentsAdapter(primary)
    with pytest.raises(Rejected) as refused:
        adapter.charge_saved(
            request(
                alice_card.provider_method_id,
                bob.provider_customer_id,
                off_session=True,
            )
        )
    assert refused.value.http_status == 400
    assert charges() == 0


def test_the_sandbox_charges_a_saved_card_with_its_own_customer(primary, alice_card):
    adapter = SandboxPaymentsAdapter(primary)
    result = adapter.charge_saved(
        request(
            alice_card.provider_method_id,
            alice_card.provider_customer_id,
            off_session=True,
        )
    )
    assert result.amount_captured == 900
    charge = SandboxCharge.objects.get(kind="payment")
    assert charge.customer_id == alice_card.provider_customer_id


def test_the_saved_card_service_still_charges_the_customers_card(primary, alice_card):
    payment = services.saved_method_charge(
        saved_method=alice_card,
        amount=700,
        currency="EUR",
        order_id="alice-own",
        idempotency_key="pay40-own",
    )
    assert payment.status == PaymentStatus.CAPTURED, payment.failure_code
