"""Set-up shared by the Retry-After hold tests (hooks40, hooks41 and their
reviews): the settings under which the receiver's wait decides, waiting
deliveries, and an endpoint held by a 429."""

from typing import Any

from django.utils import timezone

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.services import deliveries as deliveries_module
from storefront_hooks.services import rows as rows_module
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


def settles_seen(monkeypatch: Any) -> list[tuple[str, bool]]:
    """Each success's settle from now on, as ``(path, ended a hold)``: path
    "one statement" (PostgreSQL's relaxed settle, ``rows._relaxed_delivered``)
    or "orm" (``hold.hold_end`` in the ORM's transaction). A test of one path
    asserts it was taken: either path alone ends a hold."""
    seen: list[tuple[str, bool]] = []
    relaxed, end = rows_module._relaxed_delivered, rows_module.hold_end

    def one_statement(*args: Any, **kwargs: Any) -> Any:
        settled = relaxed(*args, **kwargs)
        if settled is not None:
            seen.append(("one statement", settled[2]))
        return settled

    def orm(*args: Any, **kwargs: Any) -> bool:
        ended = end(*args, **kwargs)
        seen.append(("orm", ended))
        return ended

    monkeypatch.setattr(rows_module, "_relaxed_delivered", one_statement)
    monkeypatch.setattr(rows_module, "hold_end", orm)
    return seen


def releases_seen(monkeypatch: Any) -> list[str]:
    """Why each hold a success ended had its held rows released from now on
    (``hold.held_rows_released``, which the success's settle reports to)."""
    seen: list[str] = []
    release = deliveries_module.held_rows_released

    def released(endpoint: Any, at: Any, why: str, **kwargs: Any) -> int:
        seen.append(why)
        return release(endpoint, at, why, **kwargs)

    monkeypatch.setattr(deliveries_module, "held_rows_released", released)
    return seen
