"""The event types a storefront endpoint may subscribe to: the public part of
the outbox. Internal events (breaker changes, staff notes such as
``pickup.cancel_not_applied``, ...) are never sent out.
Payloads are documented in docs/storefront-webhooks.md and the OpenAPI
schema's components (``storefront_hooks.schema``). A payload whose subject
a provider account served carries ``livemode`` (``integrations.events``):
false for a test-mode or sandbox account."""

EVENT_TYPES: dict[str, str] = {
    "payment.authorized": "A payment was authorized (funds held).",
    "payment.captured": "A payment was captured (money taken).",
    "payment.failed": "A payment failed or was blocked by fraud screening.",
    "payment.voided": "An authorization was voided.",
    "payment.refunded": "A refund settled (all or part of a capture).",
    "payment.disputed": "The customer disputed a payment at the gateway.",
    "shipment.label_created": "A shipping label was bought.",
    "shipment.voided": "A bought label was voided (it can no longer be used).",
    "shipment.void_rejected": "The carrier undid a void it had accepted (a "
    "Shippo refund rejected): the label is valid and billed again.",
    "shipment.label_voided": "One parcel's label of a multi-parcel shipment "
    "that stays bought was voided (refunded); the others are still live.",
    "shipment.label_void_rejected": "The carrier rejected the refund of a "
    "parcel's label announced as shipment.label_voided: it is live again.",
    "shipment.tracking_updated": "A carrier reported a tracking change.",
    "shipment.delivered": "The carrier reported the parcel delivered (once).",
    "pickup.scheduled": "A carrier pickup was booked (or booked again under a "
    "new confirmation number).",
    "pickup.cancelled": "A carrier pickup was cancelled.",
    "pickup.failed": "A pickup whose booking was in doubt (202 unknown) was "
    "found not booked at the carrier.",
    "pickup.past": "A booked pickup's day passed (the driver came or not: "
    "no carrier tells which).",
    "inventory.level_changed": "A stock level changed.",
    "email.bounced": "An email bounced.",
}
# Sent only on request ("send test event"); never from the outbox.
TEST_EVENT_TYPE = "webhook.test"

# The outbox prefixes this app subscribes to (settings.py must name the same:
# SWITCHYARD_EVENT_SUBSCRIBERS routes each ``<prefix>.*`` to event_fan_out).
PREFIXES = sorted({name.split(".", 1)[0] for name in EVENT_TYPES})


def is_public(event_type: str) -> bool:
    return event_type in EVENT_TYPES


def subscribable_patterns() -> list[str]:
    """Every pattern an endpoint may name: "*", each ``prefix.*`` and each
    public type. As many as an endpoint's list may hold (each named once)."""
    return ["*", *(f"{prefix}.*" for prefix in PREFIXES), *EVENT_TYPES]


def repeated_message(patterns: list[str]) -> str:
    """What to say of a list that names a pattern more than once ("" if none
    does): each repeated one once, the first ten (100,000 copies of one
    pattern make a short message)."""
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for pattern in patterns:
        if pattern in seen:
            repeated[pattern] = None
        seen.add(pattern)
    if not repeated:
        return ""
    return f"Name each event type once; repeated: {', '.join(list(repeated)[:10])}."


def invalid_patterns(patterns: list[str]) -> list[str]:
    """Patterns that match no public event type: an exact unknown name, or a
    ``prefix.*`` no public type starts with."""
    bad = []
    for pattern in patterns:
        if pattern == "*" or pattern in EVENT_TYPES:
            continue
        if pattern.endswith(".*") and any(
            name.startswith(pattern[:-1]) for name in EVENT_TYPES
        ):
            continue
        bad.append(pattern)
    return bad
