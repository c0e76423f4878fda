"""Shared types for email contract harnesses (README.md in this directory)."""

from dataclasses import dataclass

from notifications.providers.base import (
    BounceType,
    EmailCategory,
    EmailEventType,
    OutboundEmail,
)
from tests.contract.runner import Webhook


def sample_email(to: str = "ada@example.com", **changes: object) -> OutboundEmail:
    """The message every error scenario sends (the harness picks ``to``)."""
    values: dict = {
        "to": to,
        "from_email": "shop@example.com",
        "subject": "Your order 1001",
        "text": "Thanks for your order.",
        "html": "<p>Thanks for your order.</p>",
        "message_id": "eml_contract0001",
        "category": EmailCategory.TRANSACTIONAL,
        "tags": ("order_confirmation",),
        "metadata": {"order_id": "1001"},
    }
    values.update(changes)
    return OutboundEmail(**values)


@dataclass(frozen=True)
class EmailWebhook(Webhook):
    """A webhook request and, for a valid one, the first record
    ``parse_email_events`` must return."""

    event: EmailEventType | None = None
    provider_message_id: str = ""
    recipient: str = ""
    bounce_type: BounceType | None = None


@dataclass(frozen=True)
class OutOfOrder:
    """Two events about one message, delivered in the wrong order: ``first``
    arrives first but happened after ``second``."""

    first: EmailWebhook
    second: EmailWebhook
