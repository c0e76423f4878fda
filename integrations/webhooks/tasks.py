"""django-q2 tasks for webhooks: thin, they bind the correlation id and call
one service."""

from integrations import correlation
from integrations.webhooks import services


def process_webhook_event(event_id: int, correlation_id: str = "") -> str | None:
    with correlation.bind(correlation_id or None):
        return services.webhook_event_process(event_id=event_id)


def sweep_webhook_events() -> int:
    with correlation.bind(None):
        return services.webhook_events_sweep()
