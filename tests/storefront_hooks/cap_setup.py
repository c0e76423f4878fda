"""Set-up shared by the delivery queue, sweep and in-flight cap tests: a
delivery row made directly (or a batch of due ones), the tasks handed to
django-q or by the sweep, and the cap's slots held."""

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone

from integrations.models import DeliveryStatus
from integrations.ratelimit import limiter_for
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import queue as delivery_queue
from storefront_hooks.services import sweep
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


def due_rows(endpoint, count: int, *, age_minutes: int) -> list[int]:
    """``count`` failed rows of ``endpoint`` made ``age_minutes`` ago, due
    for their retry 5 s ago."""
    body = render_body("payment.captured", timezone.now(), {"order_id": "ord_1"})
    made = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event_type="payment.captured",
            body=body,
            status=DeliveryStatus.FAILED,
            attempts=1,
            next_attempt_at=timezone.now() - timedelta(seconds=5),
        )
        for _ in range(count)
    )
    ids = [row.pk for row in made]
    WebhookDelivery.objects.filter(pk__in=ids).update(
        created_at=timezone.now() - timedelta(minutes=age_minutes)
    )
    return ids


def swept(monkeypatch) -> list[int]:
    """The rows the sweep hands to ``enqueue`` from now on, in order."""
    found: list[int] = []
    monkeypatch.setattr(sweep, "enqueue", found.append)
    return found


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
