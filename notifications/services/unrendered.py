"""A message that cannot be built or sent as asked when no caller was there
to be told (the outbox's order mail, a bulk send's row): its template fails
to render, or (order mail) its address or order id is one we refuse. It is
stored ``failed`` with the error's code and text, so staff find it in the
email log; a message stored unrendered is resent by staff rendered anew once
the template is fixed. The same input would fail the same way, so nothing
retries it on its own."""

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from integrations.secrets_registry import staff_text
from notifications.models import (
    ADDRESS_MAX_LENGTH,
    BulkSend,
    EmailEvent,
    EmailMessage,
    EmailStatus,
)
from notifications.providers.base import EmailCategory
from notifications.rendering import EmailRenderError, render_email
from notifications.services.checks import EmailInvalid
from notifications.services.limits import SUBJECT_EMPTY

logger = logging.getLogger(__name__)

# EmailRenderError's codes: a message stored with one has no content.
RENDER_CODES = frozenset(
    {
        "template_not_found",
        "template_invalid",
        "missing_variable",
        "subject_too_long",
        SUBJECT_EMPTY,
    }
)


def email_message_store_failed(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    error: EmailRenderError | EmailInvalid,
    order_id: str = "",
    idempotency_key: str = "",
    bulk_send: BulkSend | None = None,
    category: str = EmailCategory.TRANSACTIONAL,
    from_email: str = "",
    headers: dict[str, str] | None = None,
    suppression: str = "",
) -> EmailMessage:
    """Store the message ``failed`` with ``error`` (nothing rendered, nothing
    sent); the message stored before under ``idempotency_key`` if any.
    ``suppression`` (the reason's label, a bulk row's suppressed address):
    stored ``suppressed`` instead, ``error`` kept beside it."""
    if idempotency_key:
        found = EmailMessage.objects.filter(idempotency_key=idempotency_key).first()
        if found is not None:
            return found
    reason = staff_text(str(error))
    status = EmailStatus.SUPPRESSED if suppression else EmailStatus.FAILED
    try:
        with transaction.atomic():
            message = EmailMessage.objects.create(
                # An address we refuse may be longer than the column.
                to_email=to[:ADDRESS_MAX_LENGTH],
                from_email=from_email or settings.EMAIL_DEFAULT_FROM,
                template=template,
                context=context,
                subject="",
                text_body="",
                headers=headers or {},
                category=category,
                order_id=order_id,
                idempotency_key=idempotency_key,
                bulk_send=bulk_send,
                status=status,
                error_code=error.code[:64],
                last_error=reason,
            )
            details = {"code": error.code, "reason": reason}
            if suppression:
                details["suppression"] = suppression
            EmailEvent.objects.create(message=message, type=status, details=details)
    except IntegrityError:
        if not idempotency_key:
            raise
        return EmailMessage.objects.get(idempotency_key=idempotency_key)
    logger.warning(
        "email not sendable; stored",
        extra={"message_id": message.public_id, "code": error.code, "status": status},
    )
    return message


def resend_content(message: EmailMessage) -> dict[str, str]:
    """The subject and bodies a resent copy of ``message`` carries: its own,
    or rendered now when its template failed when it was stored, or when its
    empty subject failed it (a copy of that would fail alike).
    EmailRenderError if the template still fails."""
    unsendable = not message.text_body or not message.subject.strip()
    if message.error_code in RENDER_CODES and unsendable:
        rendered = render_email(message.template, dict(message.context))
        return {
            "subject": rendered.subject,
            "text_body": rendered.text,
            "html_body": rendered.html,
        }
    return {
        "subject": message.subject,
        "text_body": message.text_body,
        "html_body": message.html_body,
    }
