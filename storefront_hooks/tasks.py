"""django-q2 tasks: thin, they bind the correlation id and call one service."""

from integrations import correlation
from storefront_hooks import services


def deliver_webhook(delivery_id: int, correlation_id: str = "") -> str | None:
    with correlation.bind(correlation_id or None):
        return services.delivery_send(delivery_id=delivery_id)


def sweep_webhook_deliveries() -> int:
    with correlation.bind(None):
        return services.deliveries_sweep()
