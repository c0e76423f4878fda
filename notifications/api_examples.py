"""Request and response examples for the email API's OpenAPI schema."""

SEND_REQUEST = {
    "to": "ada@example.com",
    "template": "order_confirmation",
    "context": {"order_id": "o-1001", "amount_display": "€42.00"},
    "category": "transactional",
    "order_id": "o-1001",
}
_MESSAGE = {
    "id": "eml_3k2j1h0g9f8d7s6a5p4o3i2u",
    "to": "ada@example.com",
    "template": "order_confirmation",
    "category": "transactional",
    "subject": "Your order o-1001 is confirmed",
    "order_id": "o-1001",
    "attempts": 1,
    "created_at": "2026-03-02T10:15:00Z",
}
QUEUED_RESPONSE = {
    **_MESSAGE,
    "status": "queued",
    "account": None,
    "provider": None,
    "provider_message_id": "",
    "sent_at": None,
    "updated_at": "2026-03-02T10:15:00Z",
    "attempts": 0,
    "last_error": "",
    "events": [
        {
            "type": "queued",
            "bounce_type": "",
            "occurred_at": "2026-03-02T10:15:00Z",
            "details": {},
        }
    ],
}
BOUNCED_RESPONSE = {
    **_MESSAGE,
    "status": "bounced",
    "account": "sendgrid-main",
    "provider": "sendgrid",
    "provider_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
    "sent_at": "2026-03-02T10:15:02Z",
    "updated_at": "2026-03-02T10:15:09Z",
    "last_error": "",
    "events": [
        {
            "type": "queued",
            "bounce_type": "",
            "occurred_at": "2026-03-02T10:15:00Z",
            "details": {},
        },
        {
            "type": "sent",
            "bounce_type": "",
            "occurred_at": "2026-03-02T10:15:02Z",
            "details": {"account": "sendgrid-main"},
        },
        {
            "type": "bounced",
            "bounce_type": "hard",
            "occurred_at": "2026-03-02T10:15:08Z",
            "details": {"reason": "550 5.1.1 The email account does not exist."},
        },
    ],
}
INVALID_TEMPLATE_ERROR = {
    "error": {
        "type": "invalid_request_error",
        "code": "missing_variable",
        "message": "Email template order_confirmation/subject.txt uses "
        "'order_id', which the context does not provide.",
        "param": "context.order_id",
    }
}
