"""Settings of webhook intake and the domain-event outbox (integrations.webhooks,
integrations.events), read from the environment like config/settings.py, which
imports them. `.env.example` documents each variable."""

from config.env import env

# --- Webhook intake and domain events (outbox) ------------------------------
# A body beyond this is refused with 413 before it is read in full.
WEBHOOK_MAX_BYTES = env.int("WEBHOOK_MAX_BYTES", default=1_048_576)
# Standard Webhooks timestamps further than this from our clock (either way)
# are refused as replays.
WEBHOOK_TOLERANCE_SECONDS = env.int("WEBHOOK_TOLERANCE_SECONDS", default=300)
# One request may carry many events (SendGrid posts arrays): beyond this many
# it is refused with 413 and nothing is stored.
WEBHOOK_MAX_MESSAGES_PER_REQUEST = env.int(
    "WEBHOOK_MAX_MESSAGES_PER_REQUEST", default=1000
)
# Each web process keeps the accounts webhooks name for this long (0: read the
# row every time); see integrations/webhooks/accounts.py for what that means.
WEBHOOK_ACCOUNT_CACHE_SECONDS = env.float("WEBHOOK_ACCOUNT_CACHE_SECONDS", default=5.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=30)
WEBHOOK_RETRY_MAX_SECONDS = env.int("WEBHOOK_RETRY_MAX_SECONDS", default=3600)
# The sweeper re-enqueues rows still `received` after this long (the broker
# dropped the task) ...
WEBHOOK_SWEEP_AFTER_MINUTES = env.int("WEBHOOK_SWEEP_AFTER_MINUTES", default=5)
# ... and takes back rows left `processing` this long by a worker that died;
# kept well above Q_TIMEOUT so a live worker is never overtaken.
WEBHOOK_PROCESSING_LEASE_SECONDS = env.int(
    "WEBHOOK_PROCESSING_LEASE_SECONDS", default=600
)
WEBHOOK_SWEEP_BATCH = env.int("WEBHOOK_SWEEP_BATCH", default=500)
# Processing of accepted webhooks is enqueued by a background thread per web
# process, one task per batch gathered over this many milliseconds (0: one
# task per webhook, enqueued in the request). A process that dies first leaves
# its rows to the sweeper. Each batch costs the web worker a few hundred
# microseconds of CPU whatever its size: at 20 ms that was ~100 us a webhook
# under load, at 100 ms ~17 us (measured per thread from /proc under gunicorn).
WEBHOOK_ENQUEUE_LINGER_MS = env.float("WEBHOOK_ENQUEUE_LINGER_MS", default=100.0)
# Domain handlers per kind: {kind: {event type | "prefix.*" | "*": dotted path}};
# each takes the WebhookEvent. An event type with no handler is marked
# processed with the note "no handler".
SWITCHYARD_WEBHOOK_HANDLERS: dict[str, dict[str, str]] = {
    "payments": {"*": "payments.webhooks.payment_webhook_handle"},
    "shipping": {"*": "shipping.webhooks.tracking_webhook_handle"},
    "inventory": {"inventory.updated": "inventory.webhooks.inventory_webhook_handle"},
    "email": {"*": "notifications.webhooks.email_webhook_handle"},
}
# Outbox subscribers: {event name | "name@kind" | "prefix.*" | "*": [dotted
# paths]} ("name@kind": only that event about an account of that kind); each
# takes the Event and must be idempotent (delivery is at least once).
SWITCHYARD_EVENT_SUBSCRIBERS: dict[str, list[str]] = {
    # Storefront webhooks: the public event families (storefront_hooks.catalog).
    **{
        f"{family}.*": ["storefront_hooks.services.event_fan_out"]
        for family in ("payment", "shipment", "pickup", "inventory", "email")
    },
    # A captured payment confirms its order's stock reservations; its email.
    "payment.captured": [
        "inventory.services.reservations_confirm_for_order",
        "notifications.wiring.order_confirmation_send",
    ],
    # Shipping notices: shipped (label bought) and delivered.
    "shipment.label_created": ["notifications.wiring.shipping_notice_send"],
    "shipment.delivered": ["notifications.wiring.shipping_notice_send"],
    # An email account usable again: the sends waiting for one, now (only
    # an email account's event: "name@kind").
    "integrations.breaker_mode_changed@email": ["notifications.wiring.email_wake"],
    "integrations.account_enabled@email": ["notifications.wiring.email_wake"],
    "integrations.breaker_closed@email": ["notifications.wiring.email_wake"],
}
# Account kinds an app makes for its own calls through the shared client:
# {kind: owner}. Out of the account admin's list, the dashboard and
# check_integrations; read-only in the admin; always valid.
SWITCHYARD_INTERNAL_ACCOUNT_KINDS: dict[str, str] = {
    "webhooks": "storefront webhook endpoint",
}
# Other rows encrypted with CREDENTIALS_ENCRYPTION_KEYS: {label: dotted path of
# a function re-encrypting them all with the newest key, returning a count};
# rotate_credentials runs them with the accounts, in one transaction.
SWITCHYARD_ENCRYPTED_ROWS: dict[str, str] = {
    "webhook endpoint secret(s)": (
        "storefront_hooks.services.endpoint_secrets_reencrypt"
    ),
}
EVENT_MAX_ATTEMPTS = env.int("EVENT_MAX_ATTEMPTS", default=8)

EVENT_RETRY_BASE_SECONDS = env.int("EVENT_RETRY_BASE_SECONDS", default=30)
EVENT_RETRY_MAX_SECONDS = env.int("EVENT_RETRY_MAX_SECONDS", default=3600)
EVENT_SWEEP_AFTER_MINUTES = env.int("EVENT_SWEEP_AFTER_MINUTES", default=2)
# Outbox deliveries are enqueued by a background thread, the events of this
# many milliseconds in one task (0: one task per event, from the request).
EVENT_ENQUEUE_LINGER_MS = env.float("EVENT_ENQUEUE_LINGER_MS", default=20.0)
EVENT_DELIVERY_LEASE_SECONDS = env.int("EVENT_DELIVERY_LEASE_SECONDS", default=600)
EVENT_SWEEP_BATCH = env.int("EVENT_SWEEP_BATCH", default=500)
