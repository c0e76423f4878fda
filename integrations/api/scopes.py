"""Every scope an API key can hold. ``create_api_key``, the admin and the
services validate against this list; views name what they need in
``required_scopes`` (see ``integrations.api.permissions``)."""

SCOPES: dict[str, str] = {
    "payments:read": "Read payments and saved payment methods",
    "payments:write": "Create, capture, void and refund payments",
    "shipping:read": "Read rates, shipments and tracking",
    "shipping:write": "Buy labels and book pickups",
    "inventory:read": "Read stock levels and reservations",
    "inventory:write": "Reserve and release stock",
    "email:send": "Send email messages, and start and cancel bulk sends",
    "email:read": (
        "Read email messages with their delivery events, and bulk sends with "
        "their progress"
    ),
    "webhooks:manage": "Manage storefront webhook endpoints and their secrets",
}
