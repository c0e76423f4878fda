"""Review of mail38: the empty-subject refusal is in the OpenAPI schema of
both endpoints that make it (the bulk send refuses it by row too)."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/v1/notifications/emails/", "/api/v1/notifications/bulk-sends/"]
)
def test_the_subject_empty_refusal_is_in_the_schema(path) -> None:
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    refused = schema["paths"][path]["post"]["responses"]["400"]["description"]
    assert "subject_empty" in refused
