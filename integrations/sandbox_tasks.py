"""django-q2 task for the sandboxes' own webhooks (thin: bind the correlation
id, call the delivery)."""

from integrations import correlation
from integrations.providers import sandbox_webhooks


def deliver_sandbox_webhook(
    account_id: int,
    webhook_id: str,
    body: str,
    due: float = 0.0,
    correlation_id: str = "",
    attempt: int = 1,
) -> bool:
    with correlation.bind(correlation_id or None):
        return sandbox_webhooks.webhook_deliver(
            account_id=account_id,
            webhook_id=webhook_id,
            body=body,
            due=due,
            attempt=attempt,
        )
