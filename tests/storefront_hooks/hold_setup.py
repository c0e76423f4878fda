"""Set-up shared by the Retry-After hold tests (hooks40, hooks41 and their
reviews): the settings under which the receiver's wait decides, waiting
deliveries, and an endpoint held by a 429."""

from typing import Any

from django.utils import timezone

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.services.deliveries import render_body
from tests.storefront_hooks.conftest import HOOK_PATH


def hold_settings(settings: Any) -> None:
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 600.0
    # Schedule steps shorter than the wait asked for, so the wait decides.
    settings.STOREFRONT_WEBHOOK_RETRY_SCHEDULE = [1, 1, 1]
    settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS = 4


def waiting_deliveries(
    count: int, endpoint: WebhookEndpoint | None = None, *, key: str = "n"
) -> list[WebhookDelivery]:
    """``count`` waiting deliveries to ``endpoint`` (the only one if None),
    oldest first, none enqueued (a test sends each itself); each body's data
    holds its index under ``key``."""
    endpoint = endpoint or WebhookEndpoint.objects.get()
    now = timezone.now()
    return [
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type="payment.captured",
            body=render_body("payment.captured", now, {key: n}),
        )
        for n in range(count)
    ]


def first_answered_429(
    receiver: Any, make_endpoint: Any
) -> tuple[WebhookEndpoint, WebhookDelivery, WebhookDelivery]:
    """A new endpoint whose receiver answered its first delivery 429 with a
    Retry-After of 300 s (a hold set; it answers 200 next), and a second
    delivery waiting, not sent yet."""
    receiver.route(
        "POST", HOOK_PATH, respond(429, headers={"Retry-After": "300"}), respond(200)
    )
    endpoint = make_endpoint()[0]
    first, second = waiting_deliveries(2, endpoint)
    assert services.delivery_send(delivery_id=first.pk) == "failed"
    return endpoint, first, second
