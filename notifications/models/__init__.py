"""Notifications models: ``messages`` (messages, their events, suppressions,
the sandbox's mailbox), ``bulk`` (bulk sends and their recipients) and
``webhook_tokens`` (signed webhooks' one-time tokens)."""

from notifications.models.bulk import BulkRecipient, BulkSend, BulkSendStatus
from notifications.models.messages import (
    ADDRESS_MAX_LENGTH,
    REACTIVATION_NOTE,
    STATUS_RANK,
    EmailEvent,
    EmailMessage,
    EmailStatus,
    SandboxEmail,
    Suppression,
    SuppressionReason,
    ascii_address,
    normalise_address,
)
from notifications.models.webhook_tokens import WebhookToken

__all__ = [
    "ADDRESS_MAX_LENGTH",
    "REACTIVATION_NOTE",
    "STATUS_RANK",
    "BulkRecipient",
    "BulkSend",
    "BulkSendStatus",
    "EmailEvent",
    "EmailMessage",
    "EmailStatus",
    "SandboxEmail",
    "Suppression",
    "SuppressionReason",
    "WebhookToken",
    "ascii_address",
    "normalise_address",
]
