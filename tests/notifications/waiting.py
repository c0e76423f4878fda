"""Set-up the wake-up tests share: a single send waiting for the paused
account (conftest's ``paused``: the one email account, under staff's
maintenance)."""

from integrations.clock import database_now
from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver

ORDER = {"order_id": "o-1", "amount_display": "€1.00"}


def stored_mail(oncommit) -> EmailMessage:
    """An order mail stored and its send run (``oncommit``: pytest-django's
    django_capture_on_commit_callbacks)."""
    with oncommit(execute=True):
        message = email_message_create(
            to="ada@example.com", template="order_confirmation", context=ORDER
        )
    message.refresh_from_db()
    return message


def waiting_mail(oncommit, waits: int = 3) -> EmailMessage:
    """An order mail that met only the paused account ``waits`` times: its
    next try minutes away."""
    message = stored_mail(oncommit)
    for _ in range(waits - 1):
        email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    assert message.status == EmailStatus.QUEUED
    assert (message.retry_at - database_now()).total_seconds() > 200
    return message


def sent_once(message: EmailMessage) -> None:
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.SENT, 1)
    assert message.retry_at is None
    assert SandboxEmail.objects.count() == 1
