"""Set-up shared by the delivery queue and in-flight cap tests: a delivery
row made directly, the tasks handed to django-q, and the cap's slots held."""

import contextlib
from collections.abc import Iterator

from django.utils import timezone

from integrations.ratelimit import limiter_for
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import queue as delivery_queue
from storefront_hooks.services.deliveries import render_body
from storefront_hooks.transport import endpoint_client


def made_row(endpoint, **fields: object) -> WebhookDelivery:
    """A payment.captured delivery to ``endpoint``, made directly: with
    Q_SYNC a row enqueued on commit would be sent at once."""
    body = render_body("payment.captured", timezone.now(), {"order_id": "ord_1"})
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="payment.captured", body=body, **fields
    )


def made_row_id(endpoint, **fields: object) -> int:
    return made_row(endpoint, **fields).pk


def enqueued(monkeypatch) -> list[int]:
    """What ``enqueue`` hands to django-q from now on, in order."""
    tasks: list[int] = []

    def async_task(func, delivery_id, *args, **kwargs):
        tasks.append(delivery_id)

    monkeypatch.setattr(delivery_queue, "async_task", async_task)
    return tasks


@contextlib.contextmanager
def slots_taken(endpoint, count: int) -> Iterator[None]:
    """``count`` of the endpoint account's in-flight slots held meanwhile."""
    endpoint_client(endpoint)  # the cap on the loaded account, as a delivery has
    limiter = limiter_for(endpoint.account)
    with contextlib.ExitStack() as stack:
        for _ in range(count):
            stack.enter_context(limiter.concurrency_slot())
        yield
