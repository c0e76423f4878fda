"""Prometheus counters for webhook intake and processing; registered once, at
import, in the default registry that ``/metrics`` serves. Labels stay bounded:
account slugs and fixed codes, never ids or event types from the sender."""

from prometheus_client import Counter

WEBHOOK_REQUESTS = Counter(
    "switchyard_webhook_requests_total",
    "Webhook requests by account and result (accepted, duplicate, unusable "
    "(verified, body stored dead), unusable_duplicate or a rejection code).",
    ["account", "result"],
)

# A request may carry many events (SendGrid posts arrays): this counts them.
WEBHOOK_MESSAGES = Counter(
    "switchyard_webhook_messages_total",
    "Webhook messages (events) received by account and result (stored or duplicate).",
    ["account", "result"],
)

WEBHOOK_PROCESSING = Counter(
    "switchyard_webhook_processing_total",
    "Webhook processing runs by kind and result.",
    ["kind", "result"],
)

EVENT_DELIVERIES = Counter(
    "switchyard_event_deliveries_total",
    "Domain event deliveries to subscribers by result.",
    ["result"],
)
