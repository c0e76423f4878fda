"""django-q2 tasks for webhooks: thin, they bind the correlation id and call
one service."""

import logging

from integrations import correlation
from integrations.webhooks import services

logger = logging.getLogger(__name__)


def process_webhook_event(event_id: int, correlation_id: str = "") -> str | None:
    """One event (tasks enqueued before batching existed still name this)."""
    with correlation.bind(correlation_id or None):
        return services.webhook_event_process(event_id=event_id)


def process_webhook_events(items: list[list]) -> list[str | None]:
    """A batch from the intake, a replay or the sweeper: ``[event id,
    correlation id]`` pairs, each processed on its own (one failing does not
    stop the rest: its row records the error and is retried)."""
    results: list[str | None] = []
    for event_id, correlation_id in items:
        with correlation.bind(correlation_id or None):
            try:
                results.append(services.webhook_event_process(event_id=event_id))
            except Exception:
                # The row is untouched or claimed: the sweeper retries it.
                logger.exception(
                    "webhook event processing crashed",
                    extra={"webhook_event_id": event_id},
                )
                results.append(None)
    return results


def sweep_webhook_events() -> int:
    with correlation.bind(None):
        return services.webhook_events_sweep()
