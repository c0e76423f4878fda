"""A carrier's error text may quote what we sent, credentials included: it
reaches neither the storefront's answer nor the stored shipment."""

import pytest

from integrations.errors import Rejected
from shipping.models import Shipment
from shipping.providers.sandbox import SandboxShippingAdapter
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote

SECRET = "shp_canary_Zk81Qw0xT5"
SHIPMENTS = "/api/v1/shipping/shipments/"


@pytest.mark.django_db
def test_a_refusal_quoting_a_credential_is_masked_everywhere(client, monkeypatch):
    ProviderAccountFactory(
        slug="ups-live", kind="shipping", credentials={"client_secret": SECRET}
    )

    def refuse(self, request):
        raise Rejected(f"Invalid credentials: client_secret={SECRET}", code="x")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_create_label", refuse)
    quote = _quote(carrier("strict"))

    key = ApiKeyFactory(scopes=["shipping:write", "shipping:read"])
    answer = client.post(
        SHIPMENTS,
        {"quote_id": quote.public_id},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.raw_key}",
        HTTP_IDEMPOTENCY_KEY="echo-1",
    )

    assert answer.status_code == 422
    assert SECRET not in answer.content.decode()
    assert "[redacted]" in answer.json()["error"]["message"]
    stored = Shipment.objects.get()
    assert SECRET not in stored.failure_message
    assert stored.failure_code == "x"


@pytest.mark.django_db
def test_a_provider_error_never_carries_a_known_secret():
    ProviderAccountFactory(slug="pay-live", credentials={"api_key": SECRET})
    from integrations.secrets_registry import known_secrets

    known_secrets(fresh=True)
    error = Rejected(f"key {SECRET} is not valid")

    assert SECRET not in error.message
    assert SECRET not in str(error)
    assert error.message == "key [redacted] is not valid"


@pytest.mark.django_db
def test_a_refusal_with_a_nul_is_stored_with_its_failure(client, monkeypatch):
    # JSON may carry "\u0000"; PostgreSQL text cannot: the failed shipment
    # must still be stored with the carrier's message, not lost to a 500.
    def refuse(self, request):
        raise Rejected("bad address\x00line 2", code="x")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_create_label", refuse)
    quote = _quote(carrier("strict"))

    key = ApiKeyFactory(scopes=["shipping:write", "shipping:read"])
    answer = client.post(
        SHIPMENTS,
        {"quote_id": quote.public_id},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.raw_key}",
        HTTP_IDEMPOTENCY_KEY="nul-1",
    )

    assert answer.status_code == 422
    stored = Shipment.objects.get()
    assert stored.failure_message == "bad address\ufffdline 2"
