"""Every state change of storefront webhooks: endpoints (``endpoints``),
their deliveries (``deliveries``) and the deliveries' sweep (``sweep``)."""

from storefront_hooks.services.deliveries import (
    deliveries_resend,
    delivery_send,
    event_fan_out,
    test_event_send,
)
from storefront_hooks.services.endpoints import (
    EndpointInvalid,
    endpoint_check,
    endpoint_create,
    endpoint_delete,
    endpoint_disable,
    endpoint_enable,
    endpoint_pause_end,
    endpoint_pause_seen,
    endpoint_pause_text,
    endpoint_paused_by_staff,
    endpoint_secret_rotate,
    endpoint_secrets_reencrypt,
    endpoint_streak_disable_undo,
    endpoint_update,
    endpoint_waiting_discard,
)
from storefront_hooks.services.hold import endpoint_hold_lift
from storefront_hooks.services.sweep import deliveries_sweep

__all__ = [
    "EndpointInvalid",
    "deliveries_resend",
    "deliveries_sweep",
    "delivery_send",
    "endpoint_check",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_disable",
    "endpoint_enable",
    "endpoint_hold_lift",
    "endpoint_pause_end",
    "endpoint_pause_seen",
    "endpoint_pause_text",
    "endpoint_paused_by_staff",
    "endpoint_secret_rotate",
    "endpoint_secrets_reencrypt",
    "endpoint_streak_disable_undo",
    "endpoint_update",
    "endpoint_waiting_discard",
    "event_fan_out",
    "test_event_send",
]
