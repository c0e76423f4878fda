"""Shippo's mode is its API token's (one URL serves both), not the
account's: a live-mode account holding a shippo_test_ token would announce
test labels as ``livemode: true``, and a test-mode one holding a
shippo_live_ token would buy real, billed labels announced as
``livemode: false``. Like Stripe's key, a token of the other mode is refused
before anything is sent (ConfigurationError mode_mismatch)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Event
from shipping import codec, services
from shipping.models import RateQuote, ShipmentStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.test_shippo import (
    BASE,
    LABEL_URL,
    PDF,
    RATE_ID,
    TOKEN,
    fx,
    mocked,  # noqa: F401 (fixture)
)

pytestmark = pytest.mark.django_db

LIVE_TOKEN = "shippo_live_" + TOKEN.removeprefix("shippo_test_")


def _bought(mode: str, token: str):
    account = ProviderAccountFactory(
        kind="shipping",
        provider="shippo",
        slug=f"shippo-{mode}",
        mode=mode,
        settings={"max_attempts": 1, "breaker_consecutive_failures": 50},
        credentials={"api_token": token},
    )
    quote = RateQuote.objects.create(
        fingerprint="s" * 64,
        account=account,
        carrier="USPS",
        service_code="usps_priority",
        service_name="USPS Priority Mail",
        carrier_rate_id=RATE_ID,
        amount=790,
        currency="USD",
        request=codec.request_to_json(shared.rate_request()),
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    return services.shipment_buy(quote_id=quote.public_id, idempotency_key="b-1")


@pytest.mark.parametrize(
    "mode, token", [("live", TOKEN), ("test", LIVE_TOKEN)], ids=["live", "test"]
)
def test_a_token_of_the_other_mode_buys_nothing(mocked, mode, token):  # noqa: F811
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)

    shipment = _bought(mode, token)

    assert not mocked.calls
    assert shipment.status != ShipmentStatus.PURCHASED
    assert "mode" in shipment.failure_message
    assert token not in shipment.failure_message
    assert not Event.objects.filter(name="shipment.label_created").exists()


@pytest.mark.parametrize(
    "mode, token, live", [("live", LIVE_TOKEN, True), ("test", TOKEN, False)]
)
def test_a_token_of_the_accounts_mode_buys_and_says_so(
    mocked,  # noqa: F811
    mode,
    token,
    live,
):
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)

    shipment = _bought(mode, token)

    assert shipment.status == ShipmentStatus.PURCHASED, shipment.failure_message
    event = Event.objects.get(name="shipment.label_created")
    assert event.payload["livemode"] is live
