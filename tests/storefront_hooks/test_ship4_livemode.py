"""Every storefront event whose subject a provider account served carries
``livemode`` (Stripe's word) in its data: false for a test-mode account and
for any sandbox provider's, true for a live account of a real provider. Read
from the bodies the storefront is sent, after the real outbox run."""

import json
import uuid

import pytest
import responses
from django.test import Client
from rest_framework.test import APIClient

from integrations.events import event_delivery_run
from integrations.models import EventDelivery
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.schema import PAYMENT_DATA, SHIPMENT_DATA
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.shipping.providers.test_shippo import (
    FIXTURES,
    HOOK_TOKEN,
    LABEL_URL,
    PDF,
    _queued,
)
from tests.shipping.providers.test_shippo import account as shippo  # noqa: F401

pytestmark = pytest.mark.django_db

STRIPE = "https://api.stripe.com"
INTENT = json.loads((FIXTURES / "stripe" / "payment_intent.json").read_text())
FAST = {"max_attempts": 1, "breaker_consecutive_failures": 50}


@pytest.fixture(autouse=True)
def _routed(settings) -> None:
    fan_out = ["storefront_hooks.services.event_fan_out"]
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        "payment.*": fan_out,
        "shipment.*": fan_out,
    }


@pytest.fixture
def endpoint(make_endpoint):
    return make_endpoint(event_types=["payment.*", "shipment.*"])


@pytest.fixture
def api() -> APIClient:
    key = ApiKeyFactory(scopes=["payments:read", "payments:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _sent(event_type: str) -> dict:
    """The data of the one body made for ``event_type``, the outbox run."""
    for delivery in EventDelivery.objects.filter(status="pending"):
        event_delivery_run(delivery_id=delivery.pk)
    (delivery,) = WebhookDelivery.objects.filter(event_type=event_type)
    return json.loads(delivery.body)["data"]


def _pay(api: APIClient) -> None:
    body = {"order_id": "ord_7", "amount": 2000, "currency": "EUR"}
    answer = api.post(
        "/api/v1/payments/",
        {**body, "source_token": "tok_success"},
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert answer.status_code == 201, answer.json()


@pytest.mark.parametrize("mode", ["test", "live"])
def test_a_sandbox_payment_says_livemode_false(api, endpoint, mode):
    ProviderAccountFactory(slug="sbx", mode=mode)

    _pay(api)

    data = _sent("payment.captured")
    assert data["livemode"] is False
    assert set(data) <= set(PAYMENT_DATA["properties"])


@pytest.mark.parametrize("mode, key", [("live", "sk_live_"), ("test", "sk_test_")])
def test_a_stripe_payment_says_its_accounts_mode(api, endpoint, mode, key):
    ProviderAccountFactory(
        provider="stripe",
        slug="stripe-main",
        mode=mode,
        settings=FAST,
        credentials={"secret_key": f"{key}51SwitchyardKey000000000000"},
    )
    with responses.RequestsMock() as mocked:
        mocked.post(f"{STRIPE}/v1/payment_intents", json=INTENT)
        _pay(api)

    assert _sent("payment.captured")["livemode"] is (mode == "live")


@pytest.mark.parametrize("mode", ["test", "live"])
def test_a_label_bought_by_webhook_says_its_accounts_mode(
    shippo,  # noqa: F811
    endpoint,
    django_capture_on_commit_callbacks,
    mode,
):
    shippo.mode = mode
    shippo.save(update_fields=["mode"])
    _queued(shippo)
    body = (FIXTURES / "shippo" / "webhook_transaction_updated.json").read_bytes()
    with responses.RequestsMock() as mocked:
        mocked.get(LABEL_URL, body=PDF)
        with django_capture_on_commit_callbacks(execute=True):
            answer = Client().post(
                f"/webhooks/shippo-main/?token={HOOK_TOKEN}",
                data=body,
                content_type="application/json",
            )
    assert answer.status_code == 200

    data = _sent("shipment.label_created")
    assert data["livemode"] is (mode == "live")
    assert set(SHIPMENT_DATA["required"]) <= set(data)


def test_the_schema_documents_livemode_for_every_account_served_payload():
    schemas = json.loads(Client().get("/api/schema/", {"format": "json"}).content)[
        "components"
    ]["schemas"]
    for name in (
        "StorefrontWebhookPaymentData",
        "StorefrontWebhookShipmentData",
        "StorefrontWebhookParcelLabelData",
        "StorefrontWebhookTrackingData",
        "StorefrontWebhookPickupData",
    ):
        assert schemas[name]["properties"]["livemode"]["type"] == "boolean", name
