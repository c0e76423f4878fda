"""Payments fixtures: sandbox accounts, an API client with payment scopes,
helpers to send signed sandbox webhooks, and an authorized payment."""

import json
import time
import uuid
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from integrations.models import ProviderAccount
from integrations.webhooks.verification import signed_headers
from payments import services
from payments.models import Payment, PaymentStatus
from tests.factories import ApiKeyFactory, ProviderAccountFactory

SECRET = "whsec_dGVzdHNlY3JldA=="  # ProviderAccountFactory's default


@pytest.fixture(autouse=True)
def _payments_settings(settings) -> None:
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        **settings.SWITCHYARD_WEBHOOK_HANDLERS,
        "payments": {"*": "payments.webhooks.payment_webhook_handle"},
    }


@pytest.fixture
def primary(db) -> ProviderAccount:
    return ProviderAccountFactory(slug="sbx-primary", priority=1)


@pytest.fixture
def secondary(db) -> ProviderAccount:
    return ProviderAccountFactory(slug="sbx-secondary", priority=2)


@pytest.fixture
def api(db) -> APIClient:
    key = ApiKeyFactory(scopes=["payments:read", "payments:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def webhook_body(event_type: str, **data: object) -> bytes:
    return json.dumps(
        {"type": event_type, "timestamp": "2025-01-02T03:04:05+00:00", "data": data}
    ).encode()


def webhook_headers(
    body: bytes, *, webhook_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    raw = signed_headers(
        secret=SECRET,
        webhook_id=webhook_id or f"msg_{uuid.uuid4().hex}",
        body=body,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in raw.items()}


PostWebhook = Callable[..., object]


def authorized_payment(n: int = 1) -> Payment:
    """A 10.00 EUR token payment authorized only (order ``o-n``), created
    through the service on the primary sandbox account."""
    payment = services.payment_create(
        order_id=f"o-{n}",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=False,
        idempotency_key=f"authorized-{n}",
    )
    assert payment.status == PaymentStatus.AUTHORIZED
    return payment


def stripe_test_account(
    slug: str, secret_key: str, webhook_secret: str
) -> ProviderAccount:
    """The primary Stripe account of a test that answers Stripe's API with
    ``responses``: one attempt a call, its breaker out of the way."""
    return ProviderAccountFactory(
        provider="stripe",
        slug=slug,
        priority=1,
        settings={"max_attempts": 1, "breaker_consecutive_failures": 50},
        credentials={"secret_key": secret_key, "webhook_secret": webhook_secret},
    )
