"""revsaved21: a gateway answer without a card fingerprint (null, absent,
Braintree's nil) saves the method with none, never a crash, and its charge
is screened as one without a card."""

import json
from pathlib import Path

import pytest
import responses

from payments import services
from payments.models import PaymentStatus, SavedPaymentMethod
from payments.providers.base import SaveMethodRequest
from payments.providers.braintree import BraintreeAdapter
from payments.providers.square import SquareAdapter
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
STRIPE = "https://api.stripe.com"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("card", ["null-fingerprint", "no-card"])
def test_stripe_without_a_fingerprint_saves_with_none(card):
    ProviderAccountFactory(
        provider="stripe",
        slug="stripe-rs21",
        priority=1,
        settings=dict(FAST),
        credentials={
            "secret_key": "sk_test_51Revsaved21Key00000000000000000",
            "webhook_secret": "whsec_rs21",
        },
    )
    body = dict(load("stripe/payment_method.json"), customer="cus_QXg1")
    if card == "no-card":
        body["card"] = None
    else:
        body["card"] = dict(body["card"], fingerprint=None)
    with responses.RequestsMock() as api:
        api.post(f"{STRIPE}/v1/customers", json=load("stripe/customer.json"))
        api.post(
            f"{STRIPE}/v1/payment_methods/pm_1Pgc75B7WZ01zgkWlHVgdEGJ/attach",
            json=body,
        )
        method = services.payment_method_save(
            customer_reference="cus_rs21",
            source_token="pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
            idempotency_key="rs21-1",
        )
    method.refresh_from_db()
    assert method.card_fingerprint == ""


def test_square_without_a_fingerprint_saves_with_none():
    account = ProviderAccountFactory(
        provider="square",
        settings={**FAST, "location_id": "L88917AVBK2S5"},
        credentials={
            "access_token": "EAAAl-revsaved21-sandbox-token-00000000000",
            "webhook_signature_key": "sq-rs21",
        },
    )
    body = load("square/create_card.json")
    del body["card"]["fingerprint"]
    with responses.RequestsMock() as api:
        api.post("https://connect.squareupsandbox.com/v2/cards", json=body)
        saved = SquareAdapter(account).save_method(
            SaveMethodRequest(
                customer_reference="c",
                source_token="cnon:uIbfJXhXETSP197M3GB",
                idempotency_key="s-1",
                provider_customer_id="JDKYHBWT1D4F8MFH63DBMEN8Y4",
            )
        )
    assert saved.card_fingerprint == ""


@pytest.mark.parametrize("replacement", ['<unique-number-identifier nil="true"/>', ""])
def test_braintree_without_an_identifier_saves_with_none(replacement):
    merchant = "rs21_merchant"
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
    line = "<unique-number-identifier>2a5e1f0c7c3d8e9b4f6a0d1c2b3e4f50"
    line += "</unique-number-identifier>"
    assert line in body
    body = body.replace(line, replacement)
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
    assert saved.card_fingerprint == ""


def test_a_method_without_a_fingerprint_is_charged_as_one_without_a_card(primary):
    method = services.payment_method_save(
        customer_reference="cus_rs21", source_token="tok_success", idempotency_key="m"
    )
    assert SavedPaymentMethod.objects.get().card_fingerprint == ""
    payment = services.saved_method_charge(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        order_id="o-1",
        idempotency_key="k-1",
    )
    assert payment.status == PaymentStatus.CAPTURED
