import json
import time
import uuid
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from integrations.webhooks.verification import signed_headers
from tests.factories import ProviderAccountFactory
from tests.integrations.webhooks import handlers

SECRET = "whsec_dGVzdHNlY3JldA=="  # ProviderAccountFactory's default
HANDLERS = "tests.integrations.webhooks.handlers"


@pytest.fixture(autouse=True)
def _reset_handlers(settings):
    handlers.calls.clear()
    handlers.GATE.clear()
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {"payment.*": f"{HANDLERS}.record"}
    }
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600


@pytest.fixture
def account(db):
    return ProviderAccountFactory(slug="sbx-pay")


def make_body(event_type: str = "payment.succeeded", **data: object) -> bytes:
    return json.dumps(
        {"type": event_type, "timestamp": "2025-01-02T03:04:05Z", "data": data}
    ).encode()


def sw_headers(
    body: bytes,
    *,
    webhook_id: str | None = None,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers as Django test-client keyword arguments."""
    raw = signed_headers(
        secret=secret,
        webhook_id=webhook_id or f"msg_{uuid.uuid4().hex}",
        body=body,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in raw.items()}


PostFn = Callable[..., object]


@pytest.fixture
def post_webhook() -> PostFn:
    def post(
        slug: str, body: bytes, headers: dict[str, str], client: Client | None = None
    ):
        url = reverse("webhooks:receive", args=[slug])
        return (client or Client()).post(
            url, data=body, content_type="application/json", **headers
        )

    return post
