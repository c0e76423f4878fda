"""The typed values at the email provider boundary: the message every adapter
receives, what a send returns, and the delivery events adapters normalise."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "MESSAGE_ID_HEADER",
    "BounceType",
    "EmailCategory",
    "EmailEventRecord",
    "EmailEventType",
    "MalformedEvent",
    "OutboundEmail",
    "SendResult",
    "SendStatus",
    "UndatedEvent",
    "event_text",
    "stops_address",
    "unreadable_time",
]

# Header carrying our message's public id, for providers that echo headers.
MESSAGE_ID_HEADER = "X-Switchyard-Message-Id"


class EmailCategory(StrEnum):
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


@dataclass(frozen=True)
class OutboundEmail:
    """One rendered message to one recipient, as every adapter receives it."""

    to: str
    from_email: str
    subject: str
    text: str
    message_id: str  # our public id (eml_...), echoed back in events
    category: EmailCategory = EmailCategory.TRANSACTIONAL
    html: str = ""
    reply_to: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # Sent as the provider's custom args / metadata / message tags; providers
    # echo them in events, which is how an event finds its message.
    metadata: Mapping[str, str] = field(default_factory=dict)

    def provider_metadata(self) -> dict[str, str]:
        """``metadata`` plus our message id under ``message_id``."""
        return {**self.metadata, "message_id": self.message_id}


class SendStatus(StrEnum):
    ACCEPTED = "accepted"  # the provider took it for delivery
    QUEUED = "queued"  # taken, delivery scheduled or pending


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: SendStatus = SendStatus.ACCEPTED
    raw_status: str = ""


class EmailEventType(StrEnum):
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    REJECTED = "rejected"  # the provider refused it after accepting the call
    # Staff stopped all mail to the address at the provider (not a bounce,
    # not the recipient's unsubscribe).
    MANUALLY_SUPPRESSED = "manually_suppressed"
    # Delivered, then filed as spam or blocked by the recipient's filter (a
    # filter's notice, not the recipient's complaint): recorded for staff; it
    # neither proves nor undoes delivery, so it moves no status.
    FILTERED = "filtered"
    # The provider lifted its own stop on the address (Postmark's
    # reactivation): what that stop put here is lifted too.
    REACTIVATED = "reactivated"
    # The provider deactivated the address on a record we read no more of
    # (Postmark's ``Inactive`` on a bounce Type we do not list): stopped by
    # ``suppressed_for``; it moves no status, saying nothing of the message.
    DEACTIVATED = "deactivated"


class BounceType(StrEnum):
    HARD = "hard"  # permanent: the address is suppressed
    SOFT = "soft"  # temporary: nothing suppressed


@dataclass(frozen=True)
class EmailEventRecord:
    """One provider delivery event, normalised. ``message_id`` is our public
    id when the provider echoed our metadata, else ""; the message is then
    found by ``provider_message_id``."""

    type: EmailEventType
    occurred_at: datetime
    recipient: str
    provider_message_id: str
    message_id: str = ""
    bounce_type: BounceType | None = None
    # Provider details safe to show staff: reason, SMTP code, URL clicked,
    # user agent. Never credentials.
    details: Mapping[str, Any] = field(default_factory=dict)
    # The provider suppresses the address (a drop for its list, Postmark's
    # stop on a stream): why here ("hard_bounce", "complaint", "unsubscribe",
    # "manual", "unsubscribe_all", "deactivated"); it is suppressed here
    # too, so the next message is not even tried. On a ``reactivated``
    # record: "unsubscribe" when the list lifted stops marketing mail only.
    suppressed_for: str = ""
    # The domain the provider says the message was sent from ("" when the
    # event names none): an event naming no message of ours counts only
    # when it is one of the account's ``sending_domains``.
    sender_domain: str = ""
    # The part of a shared account the event is in when it is not ours,
    # saying which (Postmark: "message stream crm-news"); "" otherwise. An
    # event naming no message of ours there is another system's, whatever
    # its sender.
    not_ours: str = ""
    # The provider's time of the event as it came when unreadable ("missing"
    # when absent), for an event applied anyway because it stops its
    # address: ``occurred_at`` is then when we received it. "" otherwise.
    undated: str = ""
    # A reactivation of a list only its own stops name (SendGrid's
    # unsubscribe group): it lifts a stop recorded on that list, never a
    # stop naming no list by its reach (the account's global ones).
    list_only: bool = False


class MalformedEvent(ValueError):
    """An event that lacks what it must carry (its kind's own fields, or
    anything naming a message or an address): it fails the same way every
    time, so it is stored dead with this error for staff, never applied as
    nothing. The message says what is missing, never a value."""


class UndatedEvent(ValueError):
    """An event with no readable time of its own that stops no address: it
    could not be ordered against the message's other events, and nothing
    waits on it, so it is stored dead with this error for staff."""


def stops_address(
    kind: EmailEventType | None, bounce: BounceType | None, suppressed_for: str
) -> bool:
    """Whether an event of ``kind`` stops its address (a hard bounce, a
    complaint, an unsubscribe, staff's or the provider's stop): applied even
    with no readable time, dated when received, so the address never waits
    for staff. A reactivation lifts a stop: it must be ordered, so it is not."""
    if kind is None or kind is EmailEventType.REACTIVATED:
        return False
    if kind is EmailEventType.BOUNCED and bounce is BounceType.HARD:
        return True
    stops = (
        EmailEventType.COMPLAINED,
        EmailEventType.UNSUBSCRIBED,
        EmailEventType.MANUALLY_SUPPRESSED,
    )
    return kind in stops or bool(suppressed_for)


def event_text(value: object) -> str:
    """An event's address or id field as sent; "" for null or any other
    type: absent, naming nothing (never the text "None")."""
    return value if isinstance(value, str) else ""


def unreadable_time(payload: Mapping[str, Any], name: str) -> str:
    """The unreadable time ``payload[name]`` as it came, for staff
    ("missing" when absent)."""
    if name not in payload:
        return "missing"
    return json.dumps(payload[name], default=str)[:40]
