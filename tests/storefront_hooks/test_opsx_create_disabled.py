"""An endpoint the storefront creates with ``"enabled": false`` is never
stored enabled: an event fanned out by a worker while the create is under way
(between its commit and a later disable) would be sent to it at once."""

import pytest

from storefront_hooks import services
from storefront_hooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints/"


def test_an_endpoint_created_disabled_is_never_stored_enabled(api, monkeypatch):
    created = services.endpoint_create
    seen: dict[str, object] = {}

    def create_then_event(**kwargs):
        endpoint, secret = created(**kwargs)
        # What a worker's outbox run sees the moment the create committed.
        seen["enabled"] = WebhookEndpoint.objects.get(pk=endpoint.pk).enabled
        return endpoint, secret

    monkeypatch.setattr(services, "endpoint_create", create_then_event)
    body = {
        "url": "https://shop.example/hooks",
        "event_types": ["payment.*"],
        "enabled": False,
    }
    answer = api.post(BASE, body, format="json")

    assert answer.status_code == 201
    assert answer.json()["enabled"] is False
    assert answer.json()["disabled_reason"] == "Disabled on creation."
    assert seen["enabled"] is False
    endpoint = WebhookEndpoint.objects.get(public_id=answer.json()["id"])
    assert (endpoint.enabled, endpoint.disabled_at is not None) == (False, True)
