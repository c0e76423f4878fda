"""A staff resend: a copy of a message (same content, new id), sent now."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from notifications.models import EmailEvent, EmailMessage, EmailStatus
from notifications.rendering import EmailRenderError
from notifications.services.checks import (
    EmailInvalid,
    email_address_check,
    email_header_value_check,
)
from notifications.services.sending import email_event_record, email_message_enqueue
from notifications.services.suppressions import suppression_blocks
from notifications.services.unrendered import resend_content


def email_message_resend(*, message: EmailMessage) -> EmailMessage:
    """A copy of ``message`` (same content, new id), sent now; EmailInvalid
    when its address or order id is one we refuse (``invalid_email``,
    ``invalid_header``), the address may not receive it (``suppressed``), or
    (the template's code) a message stored unrendered still cannot be."""
    # Stored failed for an address or order id we refuse (the outbox's order
    # mail): a copy would be refused alike.
    email_address_check(message.to_email)
    email_header_value_check(message.order_id, param="order_id")
    if suppression_blocks(message.to_email, message.category):
        raise EmailInvalid(
            "The address is suppressed; nothing was sent.",
            code="suppressed",
            param="to",
        )
    try:
        content = resend_content(message)
    except EmailRenderError as error:
        raise EmailInvalid(str(error), code=error.code, param="template") from None
    copy_fields = [
        "to_email",
        "from_email",
        "template",
        "context",
        "headers",
        "category",
        "order_id",
    ]
    with transaction.atomic():
        # A double submit sends one copy: the original is locked, and a copy
        # made of it moments ago answers the second click.
        EmailMessage.objects.select_for_update().filter(pk=message.pk).first()
        recent = _recent_resend(message)
        if recent is not None:
            return recent
        copy = EmailMessage.objects.create(
            **{name: getattr(message, name) for name in copy_fields}, **content
        )
        email_event_record(copy, EmailStatus.QUEUED, {"resend_of": message.public_id})
        email_message_enqueue(copy)
    return copy


RESEND_GUARD = timedelta(seconds=60)


def _recent_resend(message: EmailMessage) -> EmailMessage | None:
    since = timezone.now() - RESEND_GUARD
    queued = EmailEvent.objects.filter(
        type=EmailStatus.QUEUED,
        details__resend_of=message.public_id,
        created_at__gte=since,
    )
    found = queued.select_related("message").order_by("-pk").first()
    return None if found is None else found.message
