"""Applying provider delivery events to messages: by precedence (a message
only moves up ``STATUS_RANK``, so late or out-of-order events are harmless),
suppressing the address (as our message spells it) on a hard bounce,
complaint, unsubscribe or staff's stop at the provider, and
announcing ``email.delivered`` / ``email.bounced`` / ``email.complained``
through the outbox in the same transaction.

An event that says an address must not be mailed is about the address, not
a message: it suppresses the address even when it names no message of ours
(``email_address_event_apply``); any other event for an unknown message is
ignored. A provider's reactivation of an address is about the address too:
it lifts what that account's stop put here (``email_address_reactivate``)."""

import logging

from django.db import IntegrityError, transaction

from integrations.events import event_emit
from integrations.models import WebhookEvent
from notifications.models import (
    STATUS_RANK,
    EmailEvent,
    EmailMessage,
    EmailStatus,
    Suppression,
    SuppressionReason,
)
from notifications.providers.base import (
    BounceType,
    EmailEventRecord,
    EmailEventType,
    domain_ascii,
)
from notifications.services.checks import EmailInvalid, email_address_check
from notifications.services.suppressions import (
    REASON_RANK,
    ProviderOrigin,
    suppression_add,
    suppression_provider_lift,
    suppression_provider_stop,
)

logger = logging.getLogger(__name__)

# The status an event is evidence of (None: it moves no status).
_STATUS_FOR: dict[EmailEventType, str | None] = {
    EmailEventType.DELIVERED: EmailStatus.DELIVERED,
    EmailEventType.DEFERRED: EmailStatus.DEFERRED,
    EmailEventType.BOUNCED: EmailStatus.BOUNCED,
    EmailEventType.COMPLAINED: EmailStatus.COMPLAINED,
    # Opening or clicking proves delivery.
    EmailEventType.OPENED: EmailStatus.DELIVERED,
    EmailEventType.CLICKED: EmailStatus.DELIVERED,
    EmailEventType.UNSUBSCRIBED: None,
    EmailEventType.REJECTED: EmailStatus.FAILED,
    EmailEventType.FILTERED: None,
    EmailEventType.REACTIVATED: None,
    EmailEventType.DEACTIVATED: None,
}
_SUPPRESS_FOR = {
    EmailEventType.COMPLAINED: SuppressionReason.COMPLAINT,
    EmailEventType.UNSUBSCRIBED: SuppressionReason.UNSUBSCRIBE,
    EmailEventType.MANUALLY_SUPPRESSED: SuppressionReason.MANUAL,
}
_ANNOUNCED = {
    EmailStatus.DELIVERED: "email.delivered",
    EmailStatus.BOUNCED: "email.bounced",
    EmailStatus.COMPLAINED: "email.complained",
}


def email_status_for(record: EmailEventRecord) -> str | None:
    """The status ``record`` is evidence of; a soft bounce is a deferral."""
    if record.type == EmailEventType.BOUNCED and record.bounce_type == BounceType.SOFT:
        return EmailStatus.DEFERRED
    return _STATUS_FOR.get(record.type)


def email_message_for_event(
    record: EmailEventRecord, *, account_id: int | None
) -> EmailMessage | None:
    """The message an event is about: by our echoed id, else by the
    provider's message id on that account."""
    if record.message_id:
        found = EmailMessage.objects.filter(public_id=record.message_id).first()
        if found is not None:
            return found
    if record.provider_message_id:
        query = EmailMessage.objects.filter(
            provider_message_id=record.provider_message_id
        )
        if account_id is not None:
            query = query.filter(account_id=account_id)
        return query.first()
    return None


def email_event_apply(
    *,
    message: EmailMessage,
    record: EmailEventRecord,
    webhook: WebhookEvent | None = None,
) -> bool:
    """Apply one event to ``message``; False if this webhook already added
    it (a replay changes nothing)."""
    with transaction.atomic():
        locked = EmailMessage.objects.select_for_update().get(pk=message.pk)
        try:
            with transaction.atomic():
                EmailEvent.objects.create(
                    message=locked,
                    type=record.type,
                    bounce_type=record.bounce_type or "",
                    occurred_at=record.occurred_at,
                    details=dict(record.details),
                    webhook=webhook,
                )
        except IntegrityError:
            return False
        _move(locked, record)
        _suppress(locked, record, webhook)
    return True


def _move(message: EmailMessage, record: EmailEventRecord) -> None:
    status = email_status_for(record)
    if status is None or STATUS_RANK[status] <= STATUS_RANK[message.status]:
        return
    message.status = status
    message.status_at = record.occurred_at
    # The send's failure (an unknown outcome, a retry) is superseded by what
    # the provider now reports; its text stays on the send's event for staff.
    message.last_error = message.error_code = ""
    message.save(
        update_fields=["status", "status_at", "last_error", "error_code", "updated_at"]
    )
    name = _ANNOUNCED.get(status)
    if name:
        event_emit(
            name=name,
            subject=f"email:{message.public_id}",
            payload={
                "message_id": message.public_id,
                "recipient": message.to_email,
                "template": message.template,
                "order_id": message.order_id,
                "bounce_type": record.bounce_type or "",
                "occurred_at": record.occurred_at.isoformat(),
            },
            account=message.account,
        )
    logger.info(
        "email status moved",
        extra={"message_id": message.public_id, "status": status},
    )


def email_suppression_reason(record: EmailEventRecord) -> str | None:
    """Why ``record`` says its address must not be mailed (a hard bounce, a
    complaint, an unsubscribe, a stop or a drop at the provider), or None.
    The provider's own word on it (``suppressed_for``: a drop for its list,
    Postmark's stop on a stream) comes first: a Postmark unsubscribe from
    the transactional stream stops order mail, as Postmark then does."""
    if record.type == EmailEventType.REACTIVATED:
        return None
    if record.suppressed_for in REASON_RANK:
        return record.suppressed_for
    if record.type == EmailEventType.BOUNCED and record.bounce_type == BounceType.HARD:
        return SuppressionReason.HARD_BOUNCE
    return _SUPPRESS_FOR.get(record.type)


def email_address_event_apply(
    *, record: EmailEventRecord, webhook: WebhookEvent
) -> Suppression | None:
    """Suppress the address of an event that names no message of ours, when
    it says the address must not be mailed; None for any other event.

    Only a verified webhook of one of our accounts gets here (the intake
    checked it), and the suppression names that webhook as its source, so
    staff can see which account's event stopped the address."""
    reason = email_suppression_reason(record)
    if reason is None:
        return None
    try:
        address = email_address_check(record.recipient)
    except EmailInvalid:
        # Nothing we could send to: there is nothing to stop either.
        logger.warning(
            "address event names no usable address",
            extra={"webhook_event_id": webhook.pk, "event_type": str(record.type)},
        )
        return None
    return suppression_provider_stop(
        address=address,
        reason=reason,
        source=email_webhook_source(webhook),
        origin=_origin(record, webhook),
    )


def email_address_reactivate(
    *, record: EmailEventRecord, webhook: WebhookEvent
) -> Suppression | None:
    """Lift the address's suppression when the provider lifted the stop that
    caused it (a ``reactivated`` record); the lifted entry, or None.

    Only what this account's own events put on the list reactivated (the
    record's ``message_stream``; for an entry stored before lists were kept,
    one of the same reach: ``suppressed_for`` "unsubscribe" for a list that
    stops marketing mail only) is lifted, and only when it is not newer than
    the reactivation; our unsubscribe link, staff's entries here and other
    accounts' events stay, and one of them the lifted entry absorbed is
    active after it (``suppression_provider_lift``)."""
    try:
        address = email_address_check(record.recipient)
    except EmailInvalid:
        return None
    return suppression_provider_lift(
        address=address,
        origin=_origin(record, webhook),
        marketing_only=record.suppressed_for == SuppressionReason.UNSUBSCRIBE,
        reason=f"reactivated at the provider ({email_webhook_source(webhook)})",
        ours=lambda suppression: _caused_by(suppression, webhook),
    )


def _origin(record: EmailEventRecord, webhook: WebhookEvent) -> ProviderOrigin:
    # The provider's list is in the record's details (Postmark's stream,
    # SendGrid's unsubscribe group).
    stream = record.details.get("message_stream")
    return ProviderOrigin(
        account_id=webhook.account_id,
        stream=stream if isinstance(stream, str) else "",
        occurred_at=record.occurred_at,
        list_only=record.list_only,
    )


def _caused_by(suppression: Suppression, webhook: WebhookEvent) -> bool:
    if suppression.account_id is not None:
        return suppression.account_id == webhook.account_id
    # Stored before accounts were kept: its source is a webhook of the
    # account, or our message whose events came through the account's
    # webhooks (email_event_apply's source).
    if suppression.source.startswith(f"webhook:{webhook.account.slug}:"):
        return True
    return EmailEvent.objects.filter(
        message__public_id=suppression.source, webhook__account_id=webhook.account_id
    ).exists()


def email_event_not_ours(
    record: EmailEventRecord, sending_domains: frozenset[str]
) -> str:
    """Why an event naming no message of ours is another system's mail on a
    shared account ("message stream crm-news", "sending domain other.org"),
    or "" when it may be about ours. It is another's in a part of the account
    the adapter marks as not ours (``EmailEventRecord.not_ours``), or when the
    account names its sending domains and the event names a sender domain
    that is none of them. A parent or subdomain of ours counts as ours
    (Mailgun sends on mg.example.com for From shop@example.com), so our own
    mail is never taken for another system's; both sides are compared in
    their ASCII (IDNA) form."""
    if record.not_ours:
        return record.not_ours
    sender = domain_ascii(record.sender_domain)
    ours = {d for d in map(domain_ascii, sending_domains) if d}
    if not ours or not sender:
        return ""
    for domain in ours:
        if sender == domain or sender.endswith("." + domain):
            return ""
        if domain.endswith("." + sender):
            return ""
    return f"sending domain {sender}"


def email_webhook_source(webhook: WebhookEvent) -> str:
    """A suppression's source when a webhook alone caused it."""
    return f"webhook:{webhook.account.slug}:{webhook.pk}"


def _suppress(
    message: EmailMessage, record: EmailEventRecord, webhook: WebhookEvent | None
) -> None:
    reason = email_suppression_reason(record)
    if reason is None:
        return
    # Our own spelling of the address: the event's may be the provider's
    # (an internationalised domain in punycode, another case).
    if webhook is None:
        suppression_add(
            address=message.to_email, reason=reason, source=message.public_id
        )
        return
    suppression_provider_stop(
        address=message.to_email,
        reason=reason,
        source=message.public_id,
        origin=_origin(record, webhook),
    )
