"""django-q2 tasks for webhooks: thin, they bind the correlation id and call
one service."""

import logging

from integrations import correlation
from integrations.task_batcher import run_each
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
    # A crash leaves the row untouched or claimed: the sweeper retries it.
    return run_each(
        items,
        lambda item: services.webhook_event_process(event_id=item[0]),
        crashed="webhook event processing crashed",
        extra=lambda item: {"webhook_event_id": item[0]},
        log=logger,
        within=lambda item: correlation.bind(item[1] or None),
    )


def sweep_webhook_events() -> int:
    with correlation.bind(None):
        return services.webhook_events_sweep()
