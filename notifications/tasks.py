"""django-q2 tasks for notifications: thin, they load by id and call one
service."""

from integrations import correlation
from notifications import services
from notifications.services import suppressions, webhook_tokens


def deliver_email(message_pk: int) -> str:
    with correlation.bind(None):
        return services.email_message_deliver(message_pk=message_pk)


def sweep_emails() -> dict[str, int]:
    with correlation.bind(None):
        return services.email_messages_sweep()


def purge_reactivation_notes() -> int:
    with correlation.bind(None):
        return suppressions.suppression_notes_purge()


def purge_webhook_tokens() -> int:
    with correlation.bind(None):
        return webhook_tokens.webhook_tokens_purge()
