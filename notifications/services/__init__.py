"""Notifications services: every state change of messages, suppressions,
events and bulk sends."""

from notifications.rendering import EmailRenderError
from notifications.services.checks import EmailInvalid, email_address_check
from notifications.services.events import email_event_apply, email_message_for_event
from notifications.services.resend import email_message_resend
from notifications.services.sending import (
    email_message_create,
    email_message_deliver,
    email_message_enqueue,
    email_messages_sweep,
    email_outbound,
)
from notifications.services.suppressions import (
    suppression_active,
    suppression_add,
    suppression_blocks,
    suppression_remove,
)
from notifications.services.unrendered import email_message_store_failed
from notifications.services.waking import (
    email_waiting_wake,
    email_wake_allowed,
    email_wake_allowed_again,
)

__all__ = [
    "EmailInvalid",
    "EmailRenderError",
    "email_address_check",
    "email_event_apply",
    "email_message_create",
    "email_message_deliver",
    "email_message_enqueue",
    "email_message_for_event",
    "email_message_resend",
    "email_message_store_failed",
    "email_messages_sweep",
    "email_outbound",
    "email_waiting_wake",
    "email_wake_allowed",
    "email_wake_allowed_again",
    "suppression_active",
    "suppression_add",
    "suppression_blocks",
    "suppression_remove",
]
