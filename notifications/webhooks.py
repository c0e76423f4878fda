"""Provider delivery webhooks -> message changes. Registered for every email
event type in ``SWITCHYARD_WEBHOOK_HANDLERS["email"]["*"]``; the intake has
verified and stored the event and runs this in the transaction that marks it
processed. The adapter's ``parse_email_events`` normalises; applying is by
precedence, so a replay, a duplicate or a late event changes nothing it
should not. An event that names no message of ours still suppresses its
address when it says the address must not be mailed (a hard bounce, a
complaint, a stop at the provider), and a provider's reactivation lifts
what its stop put here; any other such event is ignored. An event the
adapter dated when received (``EmailEventRecord.undated``: the provider's
time unreadable) says so in the row's note."""

import logging

from integrations.models import WebhookEvent
from integrations.webhooks.errors import handler_adapter, payload_read
from integrations.webhooks.messages import WebhookMessage
from notifications.providers.base import (
    EmailAdapter,
    EmailEventRecord,
    EmailEventType,
)
from notifications.providers.email_types import (
    MalformedEvent,
    UndatedEvent,
    stops_address,
)
from notifications.services.events import (
    email_address_event_apply,
    email_address_reactivate,
    email_event_apply,
    email_event_not_ours,
    email_message_for_event,
)

logger = logging.getLogger(__name__)


def email_webhook_handle(event: WebhookEvent) -> None:
    adapter = handler_adapter(event, EmailAdapter)
    message = WebhookMessage(
        event_type=event.event_type,
        dedupe_key=event.dedupe_key,
        payload=event.payload,
        # A row stored before undated stops were stamped when received (or
        # one no adapter dated) falls back to when it was: replay included.
        occurred_at=event.occurred_at or event.received_at,
    )
    # A payload no adapter can read fails the same way every time: dead at
    # once. What fails after the reading (the database, our code) retries.
    with payload_read("email event unreadable"):
        records = adapter.parse_email_events(message)
        _names_something(records)
        if event.occurred_at is None:
            _only_stops_undated(records)
    for record in records:
        # A reactivation is about the address, whatever message it names.
        target = None
        if record.type != EmailEventType.REACTIVATED:
            target = email_message_for_event(record, account_id=event.account_id)
        if target is None:
            _address_event(event, record, adapter.sending_domains())
            continue
        email_event_apply(message=target, record=record, webhook=event)
    undated = [record.undated for record in records if record.undated]
    if undated:
        # Staff see the event was dated by us, and what the provider sent.
        note = (
            f"the event's timestamp is unreadable ({undated[0]}); dated when received"
        )
        event.note = "; ".join(filter(None, [note, event.note]))


def _names_something(records: list[EmailEventRecord]) -> None:
    """Raise MalformedEvent for a record naming neither a message nor an
    address, or a reactivation naming no address (it is about the address,
    whatever message it names): nothing could be applied, and processing it
    as nothing would drop it unseen (dead for staff instead)."""
    for record in records:
        if record.type == EmailEventType.REACTIVATED and not record.recipient:
            raise MalformedEvent(f"The {record.type} event names no recipient.")
        if not (record.recipient or record.provider_message_id or record.message_id):
            raise MalformedEvent(
                f"The {record.type} event names neither a message nor a recipient."
            )


def _only_stops_undated(records: list[EmailEventRecord]) -> None:
    """Raise UndatedEvent for a record dated only by the row's receive time
    that stops no address: it could not be ordered against the message's
    other events, and nothing waits on it (dead for staff, as at intake)."""
    for record in records:
        stops = record.recipient and stops_address(
            record.type, record.bounce_type, record.suppressed_for
        )
        if record.undated and not stops:
            raise UndatedEvent(
                f"The {record.type} event has no readable time of its own "
                f"({record.undated}) and stops no address."
            )


def _address_event(
    event: WebhookEvent, record: EmailEventRecord, sending_domains: frozenset[str]
) -> None:
    not_ours = email_event_not_ours(record, sending_domains)
    if not_ours:
        # Another system's mail on a shared account (its sending domain or
        # message stream): not ours to act on, nothing to retry.
        note = f"ignored: another system's mail on a shared account ({not_ours})"
        event.note = note[:255]
        logger.info(
            "email event of another system on a shared account ignored",
            extra={"webhook_event_id": event.pk, "which": not_ours},
        )
        return
    if record.type == EmailEventType.REACTIVATED:
        if email_address_reactivate(record=record, webhook=event) is not None:
            event.note = "address reactivated; the provider's suppression lifted"
        return
    # A message we cannot match (sent before its id came back, or by staff at
    # the provider): only what it says about the address counts.
    if email_address_event_apply(record=record, webhook=event) is not None:
        event.note = "address suppressed; the event names no message of ours"
        return
    logger.info(
        "email event for no known message",
        extra={"webhook_event_id": event.pk, "event_type": str(record.type)},
    )
