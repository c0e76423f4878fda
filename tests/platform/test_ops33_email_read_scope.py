"""ops33: ``email:read`` was described as granting "suppressions", which no
endpoint serves. Its description, where staff and client authors read it
(the admin's API key form, the schema's security scheme), names what the
endpoints that require it serve: email messages with their delivery events,
and bulk sends with their progress."""

import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _schema() -> dict:
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _email_read_paths(schema: dict) -> set[str]:
    return {
        path
        for path, ops in schema["paths"].items()
        for op in ops.values()
        if isinstance(op, dict) and op.get("x-required-scopes") == ["email:read"]
    }


def test_the_schema_describes_only_what_email_read_grants():
    schema = _schema()
    # What the scope grants: reading messages and bulk sends, nothing else.
    assert _email_read_paths(schema) == {
        "/api/v1/notifications/emails/",
        "/api/v1/notifications/emails/{public_id}/",
        "/api/v1/notifications/bulk-sends/",
        "/api/v1/notifications/bulk-sends/{public_id}/",
    }
    text = json.dumps(schema["components"]["securitySchemes"])
    described = text.split("`email:read`: ", 1)[1].split(";", 1)[0]
    assert "suppression" not in described.lower()
    assert "email messages" in described
    assert "delivery events" in described
    assert "bulk sends" in described


def test_the_admin_key_form_lists_the_same_wording(client):
    staff = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(staff)
    page = client.get("/admin/integrations/apikey/add/").content.decode()
    line = next(x for x in page.splitlines() if "email:read —" in x)
    assert "suppression" not in line.lower()
    assert "bulk sends" in line
