"""Request and response examples for the email and bulk-send API schema."""

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
    "next_try_at": None,
    "next_try_due": False,
    "attempts": 0,
    "error_code": "",
    "last_error": "",
    "events": [
        {
            "type": "queued",
            "bounce_type": "",
            "occurred_at": "2026-03-02T10:15:00Z",
            "code": "",
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
    "next_try_at": None,
    "next_try_due": False,
    "error_code": "",
    "last_error": "",
    "events": [
        {
            "type": "queued",
            "bounce_type": "",
            "occurred_at": "2026-03-02T10:15:00Z",
            "code": "",
        },
        {
            "type": "sent",
            "bounce_type": "",
            "occurred_at": "2026-03-02T10:15:02Z",
            "code": "",
        },
        {
            "type": "bounced",
            "bounce_type": "hard",
            "occurred_at": "2026-03-02T10:15:08Z",
            "code": "",
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

BULK_CREATE_REQUEST = {
    "template": "newsletter",
    "category": "marketing",
    "name": "Spring sale",
    "context": {"headline": "Spring sale", "body": "Everything is 10% off."},
    "recipients": [
        {"email": "ada@example.com", "context": {"first_name": "Ada"}},
        {"email": "grace@example.com", "context": {"first_name": "Grace"}},
    ],
}
_BULK = {
    "id": "bulk_7d1c4b2a9e8f6a5b4c3d2e1f",
    "name": "Spring sale",
    "template": "newsletter",
    "category": "marketing",
    "created_at": "2026-03-02T09:00:00Z",
}
BULK_CREATED_RESPONSE = {
    **_BULK,
    "status": "running",
    "cancel_requested": False,
    "progress": {
        "total": 2,
        "done": 0,
        "failed": 0,
        "percent": 0.0,
        "rate": None,
        "eta_seconds": None,
        "paced_until": None,
        "started_at": "2026-03-02T09:00:00Z",
        "finished_at": None,
    },
    "outcomes": {"pending": 2},
    "duplicates": 0,
}
BULK_RUNNING_RESPONSE = {
    **_BULK,
    "status": "running",
    "cancel_requested": False,
    "progress": {
        "total": 20000,
        "done": 12000,
        "failed": 3,
        "percent": 60.015,
        "rate": 480.2,
        "eta_seconds": 16.6,
        "paced_until": None,
        "started_at": "2026-03-02T09:00:00Z",
        "finished_at": None,
    },
    "outcomes": {"sent": 11850, "delivered": 140, "suppressed": 10, "failed": 3},
}
BULK_CANCELLED_RESPONSE = {
    **BULK_RUNNING_RESPONSE,
    "status": "cancelled",
    "cancel_requested": True,
    "progress": {
        **BULK_RUNNING_RESPONSE["progress"],
        "eta_seconds": None,
        "finished_at": "2026-03-02T09:00:25Z",
    },
}
BULK_ROW_ERROR = {
    "error": {
        "type": "invalid_request_error",
        "code": "missing_variable",
        "message": "Recipient 2 (grace@example.com): the template uses 'body', "
        "which neither the shared context nor this recipient's data provides.",
        "param": "recipients[1].context.body",
    }
}
BULK_FINISHED_ERROR = {
    "error": {
        "type": "conflict_error",
        "code": "bulk_send_finished",
        "message": "Bulk send bulk_7d1c4b2a9e8f6a5b4c3d2e1f is done: "
        "nothing to cancel.",
        "param": None,
    }
}
