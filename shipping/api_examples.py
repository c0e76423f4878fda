"""Request and response examples for the shipping API's OpenAPI schema."""

from datetime import UTC, datetime, timedelta

# A pickup is booked for a day ahead (none in the past): tomorrow.
_PICKUP_DAY = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()

ADDRESS_FROM = {
    "name": "Switchyard Warehouse",
    "company": "Switchyard Ltd",
    "street_lines": ["1 Dock Road"],
    "city": "Memphis",
    "state_code": "TN",
    "postal_code": "38118",
    "country_code": "US",
    # FedEx and DHL Express labels require both phones (docs/shipping.md).
    "phone": "+19015550100",
}
ADDRESS_TO = {
    "name": "Ada Buyer",
    "street_lines": ["742 Evergreen Terrace"],
    "city": "Springfield",
    "state_code": "IL",
    "postal_code": "62704",
    "country_code": "US",
    "phone": "+12175550199",
}
RATE_REQUEST = {
    "from_address": ADDRESS_FROM,
    "to_address": ADDRESS_TO,
    "parcels": [
        {
            "weight": "2.500",
            "weight_unit": "lb",
            "length": "12",
            "width": "9",
            "height": "4",
            "dimension_unit": "in",
        }
    ],
}
_QUOTE = {
    "quote_id": "rq_8d7f6s5a4q3w2e1r0t9y8u7i",
    "account": "sandbox-shipping",
    "account_name": "Sandbox shipping",
    "carrier": "sandbox",
    "service_code": "SBX_GROUND",
    "service_name": "Sandbox Ground",
    "amount": 840,
    "currency": "USD",
    "estimated_delivery": "2025-01-07",
    "transit_days": 3,
    "expires_at": "2025-01-02T03:19:05Z",
    "duration_ms": 41,
    "cheapest": True,
    "fastest": False,
}
RATES_RESPONSE = {
    "fingerprint": "9f2c...e1",
    "cached": False,
    "currencies": ["USD"],
    "quotes": [
        _QUOTE,
        {
            **_QUOTE,
            "quote_id": "rq_1q2w3e4r5t6y7u8i9o0p1a2s",
            "service_code": "SBX_OVERNIGHT",
            "service_name": "Sandbox Overnight",
            "amount": 3960,
            "estimated_delivery": "2025-01-03",
            "transit_days": 1,
            "cheapest": False,
            "fastest": True,
        },
    ],
    "failures": [
        {
            "account": "fedex",
            "account_name": "FedEx",
            "provider": "fedex",
            "reason": "timeout",
            "outcome": "unknown",
            "code": "deadline_exceeded",
            "message": "no answer within the deadline",
            "duration_ms": 5000,
            "param": None,
            "service_code": None,
        },
        {
            "account": "ups",
            "account_name": "UPS",
            "provider": "ups",
            "reason": "error",
            "outcome": "rejected",
            "code": "field_too_long",
            "message": "to_address.city is longer than UPS takes "
            "(at most 30 characters)",
            "duration_ms": 0,
            "param": "to_address.city",
            "service_code": None,
        },
    ],
}
SHIPMENT_RESPONSE = {
    "id": "shp_0a9s8d7f6g5h4j3k2l1z0x9c",
    "order_id": "o-1001",
    "status": "purchased",
    "tracking_status": "in_transit",
    "account": "sandbox-shipping",
    "carrier": "sandbox",
    "service_code": "SBX_GROUND",
    "service_name": "Sandbox Ground",
    "amount": 840,
    "currency": "USD",
    "quote_id": "rq_8d7f6s5a4q3w2e1r0t9y8u7i",
    "tracking_number": "SBXN17357871450A1B2C3D",
    "label_format": "pdf",
    "label_url": "/api/v1/shipping/shipments/shp_0a9s8d7f6g5h4j3k2l1z0x9c/label/",
    "estimated_delivery": "2025-01-07",
    "delivered_at": None,
    "from_address": ADDRESS_FROM,
    "to_address": ADDRESS_TO,
    "parcels": RATE_REQUEST["parcels"],
    "customs": None,
    "failure": None,
    "tracking_events": [
        {
            "status": "pre_transit",
            "carrier_status_code": "LC",
            "description": "Label created",
            "location": "Origin facility",
            "occurred_at": "2025-01-02T03:05:00Z",
        },
        {
            "status": "in_transit",
            "carrier_status_code": "PU",
            "description": "Picked up",
            "location": "Sandbox hub",
            "occurred_at": "2025-01-02T15:05:00Z",
        },
    ],
    # One row per parcel of a multi-parcel shipment (empty for one parcel).
    "parcel_labels": [],
    "created_at": "2025-01-02T03:05:00Z",
    "updated_at": "2025-01-02T15:06:00Z",
}
PICKUP_REQUEST = {
    "account": "sandbox-shipping",
    "address": ADDRESS_FROM,
    "pickup_date": _PICKUP_DAY,
    "ready_time": "09:00",
    "close_time": "17:00",
    "parcel_count": 3,
    "total_weight": "7.500",
    "weight_unit": "kg",
}
PICKUP_RESPONSE = {
    "id": "pu_2b3n4m5q6w7e8r9t0y1u2i3o",
    **{k: v for k, v in PICKUP_REQUEST.items() if k != "weight_unit"},
    "status": "scheduled",
    "confirmation_number": "PU20250103A1B2",
    "ready_time": "09:00:00",
    "close_time": "17:00:00",
    "weight_unit": "kg",
    "instructions": "",
    "shipments": [],
    "created_at": "2025-01-02T10:00:00Z",
}
ADDRESS_VALIDATE_REQUEST = {
    "account": "sandbox-shipping",
    "address": {**ADDRESS_TO, "city": "springfield"},
}
ADDRESS_VALIDATE_RESPONSE = {
    "account": "sandbox-shipping",
    "valid": True,
    "address": {**ADDRESS_TO, "city": "SPRINGFIELD"},
    "residential": True,
    "messages": [],
}
