"""Provider limits checked at our API, not found out at the provider (issue
17, part 9): Stripe's metadata limits (50 keys including the adapter's own,
keys of at most 40 characters without square brackets, values of at most
500), PayPal's order id format (checkout_orders_v2.json: ``^[A-Z0-9]+$``, at
most 36), and a retried void answered "already voided" (Stripe's
payment_intent_unexpected_state, tests/fixtures/stripe/errors.json)."""

import uuid

import pytest
import responses
from rest_framework.test import APIClient

from payments import services
from payments.models import Payment, PaymentStatus
from payments.providers.stripe import METADATA_LIMITS
from tests.factories import ProviderAccountFactory
from tests.payments.providers import test_stripe

pytestmark = pytest.mark.django_db
API = "https://api.stripe.com"


@pytest.fixture
def stripe_account(db):
    return ProviderAccountFactory(
        provider="stripe",
        slug="stripe-main",
        priority=5,
        settings=dict(test_stripe.FAST),
        credentials={"secret_key": test_stripe.SECRET_KEY},
    )


def create(api: APIClient, **body):
    values = {
        "order_id": "o-1",
        "amount": 1000,
        "currency": "EUR",
        "source_token": "pm_card_visa",
    }
    values.update(body)
    return api.post(
        "/api/v1/payments/",
        values,
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def error_of(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]


def test_metadata_that_would_exceed_stripes_50_keys_is_refused(stripe_account, api):
    allowed = 50 - len(METADATA_LIMITS.reserved_keys)
    too_many = {f"k{i}": "v" for i in range(allowed + 1)}
    with responses.RequestsMock():  # nothing may be sent
        error = error_of(create(api, metadata=too_many))
    assert (error["param"], error["code"]) == ("metadata", "gateway_limit")


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({"cart[id]": "1"}, "metadata"),
        ({"k" * 41: "1"}, "metadata"),
        ({"cart": "v" * 501}, "metadata.cart"),
        ({"order_id": "mine"}, "metadata.order_id"),
    ],
)
def test_metadata_stripe_would_refuse_is_a_400(stripe_account, api, metadata, param):
    with responses.RequestsMock():
        assert error_of(create(api, metadata=metadata))["param"] == param
    assert not Payment.objects.exists()


def test_metadata_within_the_limits_reaches_stripe(stripe_account, api):
    allowed = 50 - len(METADATA_LIMITS.reserved_keys)
    metadata = {f"k{i}": "v" * 500 for i in range(allowed)}
    with responses.RequestsMock() as mock:
        mock.post(f"{API}/v1/payment_intents", json=test_stripe.intent())
        response = create(api, amount=2000, metadata=metadata)
    assert response.status_code == 201, response.content


def test_without_stripe_enabled_the_sandbox_takes_any_metadata(primary, api):
    response = create(api, source_token="tok_success", metadata={"cart[id]": "1"})
    assert response.status_code == 201, response.content


def test_the_schema_states_the_metadata_rule(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    metadata = schema["components"]["schemas"]["PaymentCreateRequest"]["properties"][
        "metadata"
    ]
    assert metadata["maxProperties"] == 50 - len(METADATA_LIMITS.reserved_keys)
    assert metadata["x-propertyNames"]["maxLength"] == 40
    assert "40 characters" in metadata["description"]
    assert metadata["additionalProperties"]["maxLength"] == 500


@pytest.mark.parametrize("token", ["5o190127tn364715t", "5O19-0127", "A" * 37])
def test_a_paypal_order_id_paypal_would_refuse_is_a_400(api, token):
    ProviderAccountFactory(provider="paypal", slug="paypal-main")
    error = error_of(create(api, source_token=token))
    assert (error["param"], error["code"]) == ("source_token", "invalid_source_token")
    assert not Payment.objects.exists()


def test_a_retried_void_answered_already_voided_is_a_success(stripe_account):
    payment = Payment.objects.create(
        order_id="o-1",
        amount=2000,
        currency="EUR",
        account=stripe_account,
        provider_reference="pi_1PgafyB7WZ01zgkWSjxsAJo3",
        status=PaymentStatus.AUTHORIZED,
        amount_authorized=2000,
    )
    intent_url = f"{API}/v1/payment_intents/pi_1PgafyB7WZ01zgkWSjxsAJo3"
    with responses.RequestsMock() as mock:
        mock.post(
            f"{intent_url}/cancel",
            status=400,
            json=test_stripe.ERRORS["payment_intent_unexpected_state"],
        )
        mock.get(intent_url, json=test_stripe.intent(status="canceled"))
        voided = services.payment_void(payment=payment, actor="staff")

    assert voided.status == PaymentStatus.VOIDED


def test_a_void_refused_for_another_reason_is_still_refused(stripe_account):
    payment = Payment.objects.create(
        order_id="o-1",
        amount=2000,
        currency="EUR",
        account=stripe_account,
        provider_reference="pi_1PgafyB7WZ01zgkWSjxsAJo3",
        status=PaymentStatus.AUTHORIZED,
        amount_authorized=2000,
    )
    intent_url = f"{API}/v1/payment_intents/pi_1PgafyB7WZ01zgkWSjxsAJo3"
    with responses.RequestsMock() as mock:
        mock.post(
            f"{intent_url}/cancel",
            status=400,
            json=test_stripe.ERRORS["payment_intent_unexpected_state"],
        )
        mock.get(intent_url, json=test_stripe.intent(status="requires_capture"))
        with pytest.raises(services.GatewayRejected):
            services.payment_void(payment=payment, actor="staff")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED
