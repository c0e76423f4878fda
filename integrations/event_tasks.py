"""django-q2 tasks for the outbox: thin, they bind the correlation id and call
one service."""

import logging

from integrations import correlation, events
from integrations.task_batcher import run_each

logger = logging.getLogger(__name__)


def deliver_event(delivery_id: int, correlation_id: str = "") -> str | None:
    with correlation.bind(correlation_id or None):
        return events.event_delivery_run(delivery_id=delivery_id)


def deliver_events(delivery_ids: list[int], correlation_id: str = "") -> list:
    """An event's deliveries in turn; one failing is kept on its own row and
    retried alone, the others go on (even past an error of our own: the
    sweeper sends that one again)."""
    with correlation.bind(correlation_id or None):
        return run_each(
            delivery_ids,
            lambda pk: events.event_delivery_run(delivery_id=pk),
            crashed="event delivery crashed; left for the sweeper",
            extra=lambda pk: {"delivery_id": pk},
            log=logger,
        )


def deliver_event_batch(items: list[list]) -> list:
    """Events' deliveries enqueued together (``events._enqueue``): each
    event's under its own correlation id, each delivery on its own."""
    results: list = []
    for delivery_ids, correlation_id in items:
        results += deliver_events(delivery_ids, correlation_id)
    return results


def sweep_event_deliveries() -> int:
    with correlation.bind(None):
        return events.event_deliveries_sweep()
