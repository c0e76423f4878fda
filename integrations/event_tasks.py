"""django-q2 tasks for the outbox: thin, they bind the correlation id and call
one service."""

from integrations import correlation, events


def deliver_event(delivery_id: int, correlation_id: str = "") -> str | None:
    with correlation.bind(correlation_id or None):
        return events.event_delivery_run(delivery_id=delivery_id)


def deliver_events(delivery_ids: list[int], correlation_id: str = "") -> list:
    """An event's deliveries in turn; one failing is kept on its own row and
    retried alone, the others go on."""
    with correlation.bind(correlation_id or None):
        return [events.event_delivery_run(delivery_id=pk) for pk in delivery_ids]


def sweep_event_deliveries() -> int:
    with correlation.bind(None):
        return events.event_deliveries_sweep()
