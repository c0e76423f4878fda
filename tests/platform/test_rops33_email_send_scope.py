"""r-ops33: ``email:send`` was described as "Send email" though it also grants
starting and cancelling bulk sends (``POST bulk-sends/``, ``POST
bulk-sends/{id}/cancel/``): a storefront author reading the schema or staff
choosing a key's scopes in the admin could not tell that a key for
transactional mail may also mail every customer, or stop a bulk send."""

import json

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_the_schema_says_email_send_covers_bulk_sends_and_their_cancel():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    paths = {
        path
        for path, ops in schema["paths"].items()
        for op in ops.values()
        if isinstance(op, dict) and op.get("x-required-scopes") == ["email:send"]
    }
    assert paths == {
        "/api/v1/notifications/emails/",
        "/api/v1/notifications/bulk-sends/",
        "/api/v1/notifications/bulk-sends/{public_id}/cancel/",
    }
    text = json.dumps(schema["components"]["securitySchemes"])
    described = text.split("`email:send`: ", 1)[1].split(";", 1)[0]
    assert "bulk sends" in described
    assert "cancel" in described
