"""The events carry what a storefront needs, and every payload is in the
OpenAPI schema's components."""

import json

import pytest
from django.test import Client

from integrations.models import Event
from payments.models import Payment, PaymentStatus
from payments.services.state import emit_event
from storefront_hooks import catalog
from storefront_hooks.schema import PAYMENT_DATA
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def test_payment_events_carry_order_amounts_status_and_email() -> None:
    payment = Payment.objects.create(
        order_id="ord_42",
        customer_email="ada@example.com",
        amount=1050,
        currency="EUR",
        status=PaymentStatus.CAPTURED,
        amount_authorized=1050,
        amount_captured=1050,
        account=ProviderAccountFactory(),
    )
    emit_event(payment, "payment.captured")
    data = Event.objects.get(name="payment.captured").payload
    assert data["order_id"] == "ord_42"
    assert data["customer_email"] == "ada@example.com"
    assert (data["amount"], data["currency"], data["status"]) == (
        1050,
        "EUR",
        "captured",
    )
    # Every key the payload has is documented in the schema.
    assert set(data) <= set(PAYMENT_DATA["properties"])


def test_openapi_schema_documents_every_event_type() -> None:
    answer = Client().get("/api/schema/", {"format": "json"})
    schemas = json.loads(answer.content)["components"]["schemas"]
    for event_type in [*catalog.EVENT_TYPES, catalog.TEST_EVENT_TYPE]:
        envelope = schemas["StorefrontWebhook_" + event_type.replace(".", "_")]
        assert envelope["properties"]["type"]["enum"] == [event_type]
        assert set(envelope["required"]) == {"type", "timestamp", "data"}
    assert "customer_email" in schemas["StorefrontWebhookPaymentData"]["properties"]


def test_every_public_event_family_is_routed_to_the_fan_out() -> None:
    # The project's own settings (the conftest here routes its own subset):
    # a family missing there is subscribable yet never delivered.
    from config import settings as project

    routed = project.SWITCHYARD_EVENT_SUBSCRIBERS
    for family in catalog.PREFIXES:
        fan_out = routed.get(f"{family}.*", [])
        assert "storefront_hooks.services.event_fan_out" in fan_out, family
