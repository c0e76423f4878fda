"""pay43: a Stripe Card id (``card_...``) the storefront sends as a source
token is refused at our API, before any gateway call, whether we store it
or not: no one-time token has that form (a Card exists only on its
Customer; Stripe.js makes ``tok_``/``pm_``). One we did not store went on
to Stripe, whose answer (no such card, or one of another customer) told a
holder of someone else's id whether it exists."""

import uuid

import pytest
import responses

from integrations.models import ProviderCall
from payments.models import Payment, SavedPaymentMethod
from tests.payments.conftest import stripe_test_account

pytestmark = pytest.mark.django_db

STRIPE = "https://api.stripe.com"


@pytest.fixture
def stripe_account():
    return stripe_test_account(
        "stripe-43", "sk_test_51Pay43Key00000000000000000000000", "whsec_43"
    )


def _create(api, token: str, order: str):
    body = {
        "order_id": order,
        "amount": 5_000,
        "currency": "EUR",
        "source_token": token,
        "customer_reference": "mallory-43",
    }
    return api.post(
        "/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


def _save(api, token: str, order: str = ""):
    return api.post(
        "/api/v1/customers/mallory-43/payment-methods/",
        {"source_token": token},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def _refused(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "invalid_source_token"
    assert body["error"]["param"] == "source_token"
    return body["error"]


@pytest.mark.parametrize("send", [_create, _save])
def test_an_unknown_card_id_is_refused_before_stripe(api, stripe_account, send):
    # Any request to Stripe would fail the mock: none may go out.
    with responses.RequestsMock():
        error = _refused(send(api, "card_1Unknown43Card000000", "o-43"))

    assert not Payment.objects.exists()
    assert not SavedPaymentMethod.objects.exists()
    assert not ProviderCall.objects.exists()
    assert "Stripe" not in error["message"]


@pytest.mark.parametrize("send", [_create, _save])
def test_a_stored_and_an_unknown_card_id_get_one_answer(api, stripe_account, send):
    SavedPaymentMethod.objects.create(
        customer_reference="alice-43",
        account=stripe_account,
        provider_customer_id="cus_43",
        provider_method_id="card_1Alice43Card00000000",
    )
    with responses.RequestsMock():
        known = _refused(send(api, "card_1Alice43Card00000000", "o-43a"))
        unknown = _refused(send(api, "card_1Unknown43Card000000", "o-43b"))

    assert known == unknown
