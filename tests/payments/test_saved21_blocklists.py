"""saved21: a saved method keeps what the screening needs (the e-mail given
at save, the gateway's card fingerprint), so the e-mail and card blocklists
apply to its one-off charges as they do to an API payment."""

import json
import uuid
from pathlib import Path

import pytest
import responses

from payments import services
from payments.models import (
    BlocklistEntry,
    BlocklistKind,
    Payment,
    PaymentStatus,
    SandboxCharge,
    SavedPaymentMethod,
)
from payments.providers.base import SaveMethodRequest
from payments.providers.braintree import BraintreeAdapter
from payments.providers.square import SquareAdapter
from payments.providers.stripe import StripeAdapter
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "retry_after_cap_seconds": 0.5,
    "breaker_consecutive_failures": 50,
}
CUSTOMER = "cus_saved21"


def block(kind: str, value: str) -> None:
    entry = BlocklistEntry(kind=kind, value=value, reason="test")
    entry.full_clean()
    entry.save()


def charge(method, *, key: str = "") -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        order_id=f"order-{uuid.uuid4().hex[:8]}",
        idempotency_key=key or uuid.uuid4().hex,
    )


def save(email: str = "", key: str = "m1"):
    return services.payment_method_save(
        customer_reference=CUSTOMER,
        source_token="tok_success",
        idempotency_key=key,
        customer_email=email,
    )


# --- The e-mail -----------------------------------------------------------------


def test_the_email_given_at_save_is_kept(primary):
    method = save("Mallory@Evil.test")
    method.refresh_from_db()
    assert method.customer_email == "Mallory@Evil.test"


def test_a_method_saved_without_email_keeps_none(primary):
    method = save()
    method.refresh_from_db()
    assert method.customer_email == ""


def test_the_api_keeps_the_email_given(primary, api):
    response = api.post(
        f"/api/v1/customers/{CUSTOMER}/payment-methods/",
        {"source_token": "tok_visa", "customer_email": "ada@example.com"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="save-api-1",
    )
    assert response.status_code == 201, response.content
    method = SavedPaymentMethod.objects.get()
    assert method.customer_email == "ada@example.com"


def test_an_email_too_long_for_the_column_is_refused_before_the_gateway(primary):
    email = "a" * 250 + "@b.test"  # a valid shape, over 254 characters
    with pytest.raises(services.PaymentError) as caught:
        save(email)
    assert caught.value.param == "customer_email"
    assert not SavedPaymentMethod.objects.exists()
    assert not SandboxCharge.objects.filter(kind="method").exists()


@pytest.mark.parametrize("entry", ["mallory@evil.test", "@Evil.test"])
def test_a_blocklisted_email_blocks_the_saved_charge(primary, entry):
    method = save("Mallory@Evil.test")
    block(BlocklistKind.EMAIL, entry)

    payment = charge(method)

    assert payment.status == PaymentStatus.BLOCKED
    assert "blocklisted_email" in payment.risk_reasons
    assert not SandboxCharge.objects.filter(kind="payment").exists()


def test_an_email_blocklisted_after_other_charges_stops_the_next(primary):
    method = save("eve@evil.test")
    assert charge(method).status == PaymentStatus.CAPTURED
    block(BlocklistKind.EMAIL, "eve@evil.test")
    assert charge(method).status == PaymentStatus.BLOCKED
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def test_a_method_saved_without_email_is_screened_as_before(primary):
    method = save()
    block(BlocklistKind.EMAIL, "@evil.test")
    payment = charge(method)
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.risk_reasons == []


# --- The card fingerprint, end to end (Stripe) ----------------------------------


STRIPE = "https://api.stripe.com"


def stripe_load(name: str) -> dict:
    return json.loads((FIXTURES / "stripe" / name).read_text())


@pytest.fixture
def stripe_account():
    return ProviderAccountFactory(
        provider="stripe",
        slug="stripe-main",
        priority=1,
        settings=dict(FAST),
        credentials={
            "secret_key": "sk_test_51Saved21SecretKey0000000000000",
            "webhook_secret": "whsec_saved21",
        },
    )


def test_a_blocklisted_card_fingerprint_blocks_the_saved_charge(stripe_account):
    method_body = dict(stripe_load("payment_method.json"), customer="cus_QXg1")
    with responses.RequestsMock() as api:
        api.post(f"{STRIPE}/v1/customers", json=stripe_load("customer.json"))
        api.post(
            f"{STRIPE}/v1/payment_methods/pm_1Pgc75B7WZ01zgkWlHVgdEGJ/attach",
            json=method_body,
        )
        method = services.payment_method_save(
            customer_reference=CUSTOMER,
            source_token="pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
            idempotency_key="m-stripe",
        )
    method.refresh_from_db()
    assert method.card_fingerprint == "AOB934RVNwzk6xtn"
    block(BlocklistKind.CARD, "AOB934RVNwzk6xtn")

    # No gateway answer is registered: the block must come before any call.
    with responses.RequestsMock() as api:
        payment = charge(method)
        assert len(api.calls) == 0

    assert payment.status == PaymentStatus.BLOCKED
    assert payment.risk_reasons == ["blocklisted_card"]


# --- Each adapter's fingerprint ----------------------------------------------------


def test_stripe_returns_the_cards_fingerprint(stripe_account):
    with responses.RequestsMock() as api:
        api.post(
            f"{STRIPE}/v1/payment_methods/pm_2/attach",
            json=dict(stripe_load("payment_method.json"), id="pm_2"),
        )
        saved = StripeAdapter(stripe_account).save_method(
            SaveMethodRequest(
                customer_reference="c",
                source_token="pm_2",
                idempotency_key="s-1",
                provider_customer_id="cus_existing",
            )
        )
    assert saved.card_fingerprint == "AOB934RVNwzk6xtn"


def test_square_returns_the_cards_fingerprint():
    account = ProviderAccountFactory(
        provider="square",
        settings={**FAST, "location_id": "L88917AVBK2S5"},
        credentials={
            "access_token": "EAAAl-saved21-sandbox-token-0000000000000",
            "webhook_signature_key": "sq-saved21",
        },
    )
    card = json.loads((FIXTURES / "square" / "create_card.json").read_text())
    with responses.RequestsMock() as api:
        api.post("https://connect.squareupsandbox.com/v2/cards", json=card)
        saved = SquareAdapter(account).save_method(
            SaveMethodRequest(
                customer_reference="c",
                source_token="cnon:uIbfJXhXETSP197M3GB",
                idempotency_key="s-1",
                provider_customer_id="JDKYHBWT1D4F8MFH63DBMEN8Y4",
            )
        )
    assert saved.card_fingerprint == card["card"]["fingerprint"]


def test_braintree_returns_the_cards_unique_number_identifier():
    merchant = "saved21_merchant"
    account = ProviderAccountFactory(
        provider="braintree",
        settings=dict(FAST),
        credentials={
            "merchant_id": merchant,
            "public_key": "x8t4pq2kz6w9yj3n",
            "private_key": "5c1e9a7f3b2d4e6f8a0b1c2d3e4f5a6b",
        },
    )
    body = (FIXTURES / "braintree" / "customer_created.xml").read_text()
    base = f"https://api.sandbox.braintreegateway.com:443/merchants/{merchant}"
    with responses.RequestsMock() as api:
        api.post(
            f"{base}/customers",
            status=201,
            body=body,
            content_type="application/xml; charset=utf-8",
        )
        saved = BraintreeAdapter(account).save_method(
            SaveMethodRequest(
                customer_reference="c",
                source_token="fake-valid-nonce",
                idempotency_key="s-1",
            )
        )
    assert saved.card_fingerprint == "2a5e1f0c7c3d8e9b4f6a0d1c2b3e4f50"


def test_the_api_refuses_an_email_too_long_for_the_column(primary, api):
    response = api.post(
        f"/api/v1/customers/{CUSTOMER}/payment-methods/",
        {"source_token": "tok_visa", "customer_email": "a" * 250 + "@b.test"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="save-api-2",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "customer_email"
    assert not SavedPaymentMethod.objects.exists()
    assert not SandboxCharge.objects.filter(kind="method").exists()


def test_a_service_caller_s_malformed_email_is_refused(primary):
    with pytest.raises(services.PaymentError) as caught:
        save("not an e-mail")
    assert caught.value.param == "customer_email"
    assert not SavedPaymentMethod.objects.exists()


def test_a_method_saved_again_gains_what_it_lacked(stripe_account):
    """The gateway answers the same method again (Stripe's attach of a
    payment method already attached): the row kept gains the e-mail it had
    not been given, and keeps it when a later save gives none."""
    method_body = dict(stripe_load("payment_method.json"), customer="cus_QXg1")
    url = f"{STRIPE}/v1/payment_methods/pm_1Pgc75B7WZ01zgkWlHVgdEGJ/attach"
    saved = []
    for key, email in [("s-1", ""), ("s-2", "eve@evil.test"), ("s-3", "")]:
        # The customer is created once, then known.
        with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
            api.post(f"{STRIPE}/v1/customers", json=stripe_load("customer.json"))
            api.post(url, json=method_body)
            saved.append(
                services.payment_method_save(
                    customer_reference=CUSTOMER,
                    source_token="pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
                    idempotency_key=key,
                    customer_email=email,
                )
            )
    assert len({method.pk for method in saved}) == 1
    method = SavedPaymentMethod.objects.get()
    assert method.customer_email == "eve@evil.test"
    block(BlocklistKind.EMAIL, "@evil.test")
    with responses.RequestsMock():
        assert charge(method).status == PaymentStatus.BLOCKED
