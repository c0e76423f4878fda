"""The storefront webhooks' payloads in the OpenAPI schema's components (a
drf-spectacular post-processing hook): the envelope every delivery carries
and one ``data`` schema per event type. Prose: docs/storefront-webhooks.md."""

from typing import Any

from storefront_hooks import catalog

_INT = {"type": "integer"}
_STR = {"type": "string"}
# Stripe's word: in every payload whose subject a provider account served.
LIVEMODE: dict[str, Any] = {
    "type": "boolean",
    "description": "False when a test-mode or sandbox account served it: no "
    "real money, parcel or mail moved. Absent where no account served it "
    "(a payment blocked by fraud screening, say).",
}

PAYMENT_DATA: dict[str, Any] = {
    "type": "object",
    "description": "Amounts are integers in the currency's minor unit.",
    "required": ["payment_id", "order_id", "status", "amount", "currency"],
    "properties": {
        "payment_id": {**_STR, "example": "pay_0a1b2c3d4e5f6g7h8i9j0k1l"},
        "order_id": _STR,
        "customer_email": {**_STR, "format": "email"},
        "status": {
            **_STR,
            "enum": [
                "pending",
                "requires_action",
                "authorized",
                "captured",
                "partially_refunded",
                "refunded",
                "voided",
                "failed",
                "blocked",
                "unknown",
            ],
        },
        "amount": _INT,
        "currency": {**_STR, "example": "EUR"},
        "amount_authorized": _INT,
        "amount_captured": _INT,
        "amount_refunded": _INT,
        "livemode": LIVEMODE,
        "refund_id": {**_STR, "description": "payment.refunded only."},
        "refund_amount": {**_INT, "description": "payment.refunded only."},
        "dispute": {**_STR, "enum": ["opened", "closed"]},
        "provider_dispute_status": _STR,
        "review": {
            **_STR,
            "enum": ["approved"],
            "description": "payment.authorized only: staff approved the fraud "
            "hold; the authorization may be captured now.",
        },
    },
}
SHIPMENT_DATA: dict[str, Any] = {
    "type": "object",
    "description": "A bought label (shipment.label_created, shipment.voided, "
    "shipment.void_rejected: purchased again). The amount is an integer in the "
    "currency's minor unit.",
    "required": [
        "shipment",
        "order_id",
        "carrier",
        "service_code",
        "tracking_number",
        "amount",
        "currency",
        "status",
        "livemode",
    ],
    "properties": {
        "shipment": {**_STR, "example": "shp_0a1b2c3d4e5f6g7h8i9j0k1l"},
        "order_id": _STR,
        "carrier": {**_STR, "example": "UPS"},
        "service_code": _STR,
        "tracking_number": _STR,
        "amount": _INT,
        "currency": {**_STR, "example": "USD"},
        "status": {**_STR, "enum": ["purchased", "voided"]},
        "tracking_status": _STR,
        "customer_email": {**_STR, "description": "May be empty."},
        "tracking_url": {**_STR, "description": "Empty when none is known."},
        "livemode": LIVEMODE,
    },
}
PARCEL_LABEL_DATA: dict[str, Any] = {
    **SHIPMENT_DATA,
    "description": "One parcel's label of a shipment that stays purchased "
    "(shipment.label_voided, shipment.label_void_rejected): the shipment's "
    "payload, with the parcel named.",
    "required": [*SHIPMENT_DATA["required"], "parcel", "parcel_tracking_number"],
    "properties": {
        **SHIPMENT_DATA["properties"],
        "parcel": {**_INT, "description": "1-based, the carrier's order."},
        "parcel_tracking_number": _STR,
    },
}
TRACKING_DATA: dict[str, Any] = {
    "type": "object",
    "description": "A shipment's tracking (shipment.tracking_updated, "
    "shipment.delivered).",
    "required": [
        "shipment",
        "order_id",
        "tracking_number",
        "tracking_status",
        "livemode",
    ],
    "properties": {
        "shipment": {**_STR, "example": "shp_0a1b2c3d4e5f6g7h8i9j0k1l"},
        "order_id": _STR,
        "tracking_number": _STR,
        "tracking_status": {**_STR, "example": "delivered"},
        "carrier": {**_STR, "example": "UPS"},
        "customer_email": {**_STR, "description": "May be empty."},
        "tracking_url": {**_STR, "description": "Empty when none is known."},
        "estimated_delivery": {**_STR, "format": "date", "nullable": True},
        "livemode": LIVEMODE,
    },
}
PICKUP_DATA: dict[str, Any] = {
    "type": "object",
    "description": "A carrier pickup (pickup.scheduled, pickup.cancelled, "
    "pickup.failed, pickup.past).",
    "required": [
        "pickup",
        "status",
        "confirmation_number",
        "pickup_date",
        "shipments",
        "livemode",
    ],
    "properties": {
        "pickup": {**_STR, "example": "pu_0a1b2c3d4e5f6g7h8i9j0k1l"},
        "status": {**_STR, "enum": ["scheduled", "cancelled", "failed", "past"]},
        "confirmation_number": _STR,
        "pickup_date": {**_STR, "format": "date"},
        "shipments": {
            "type": "array",
            "items": _STR,
            "description": "The shipments (shp_...) the pickup collects.",
        },
        "livemode": LIVEMODE,
    },
}
_DATA_REFS = {
    "shipment.label_created": "StorefrontWebhookShipmentData",
    "shipment.voided": "StorefrontWebhookShipmentData",
    "shipment.void_rejected": "StorefrontWebhookShipmentData",
    "shipment.label_voided": "StorefrontWebhookParcelLabelData",
    "shipment.label_void_rejected": "StorefrontWebhookParcelLabelData",
    "shipment.tracking_updated": "StorefrontWebhookTrackingData",
    "shipment.delivered": "StorefrontWebhookTrackingData",
    "pickup.scheduled": "StorefrontWebhookPickupData",
    "pickup.cancelled": "StorefrontWebhookPickupData",
    "pickup.failed": "StorefrontWebhookPickupData",
    "pickup.past": "StorefrontWebhookPickupData",
}
# Events whose emitters land with later issues: documented as open objects.
OPEN_DATA: dict[str, Any] = {"type": "object", "additionalProperties": True}
TEST_DATA: dict[str, Any] = {
    "type": "object",
    "properties": {"endpoint_id": _STR, "message": _STR},
}


def _data_schema(event_type: str) -> dict[str, Any]:
    if event_type.startswith("payment."):
        return {"$ref": "#/components/schemas/StorefrontWebhookPaymentData"}
    if event_type in _DATA_REFS:
        return {"$ref": f"#/components/schemas/{_DATA_REFS[event_type]}"}
    if event_type == catalog.TEST_EVENT_TYPE:
        return TEST_DATA
    return OPEN_DATA


def envelope(event_type: str, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {**_STR, "enum": [event_type]},
            "timestamp": {**_STR, "format": "date-time"},
            "data": _data_schema(event_type),
        },
    }


def component_schemas() -> dict[str, dict[str, Any]]:
    schemas = {
        "StorefrontWebhookPaymentData": PAYMENT_DATA,
        "StorefrontWebhookShipmentData": SHIPMENT_DATA,
        "StorefrontWebhookParcelLabelData": PARCEL_LABEL_DATA,
        "StorefrontWebhookTrackingData": TRACKING_DATA,
        "StorefrontWebhookPickupData": PICKUP_DATA,
    }
    types = {**catalog.EVENT_TYPES, catalog.TEST_EVENT_TYPE: "A test event."}
    for event_type, description in types.items():
        name = "StorefrontWebhook_" + event_type.replace(".", "_")
        schemas[name] = envelope(event_type, description)
    return schemas


def add_webhook_components(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(component_schemas())
    return result
