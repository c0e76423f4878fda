"""Outside review (task "mail"): a provider's event applied while our send
is still finishing. The provider accepted the message, its "delivered"
webhook was applied, then our call timed out reading the answer: the message
stays ``delivered``, and the storefront is not told the provider did not
take it (the error of a send the provider's own event has settled)."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.errors import Unknown
from notifications.models import EmailMessage, EmailStatus
from notifications.providers.base import EmailEventRecord, EmailEventType
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import email_event_apply
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db
EMAILS = "/api/v1/notifications/emails/"


def test_a_send_that_times_out_after_its_delivery_was_reported_shows_no_error(
    email_accounts, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    def accepted_then_lost(self, message, **kwargs):
        stored = EmailMessage.objects.get(public_id=message.message_id)
        record = EmailEventRecord(
            type=EmailEventType.DELIVERED,
            occurred_at=timezone.now(),
            recipient=message.to,
            provider_message_id="",
            message_id=message.message_id,
        )
        email_event_apply(message=stored, record=record)
        raise Unknown("the answer was lost", code="read_timeout")

    monkeypatch.setattr(SandboxEmailAdapter, "send", accepted_then_lost)
    key = ApiKeyFactory(scopes=["email:send", "email:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    body = {
        "to": "ada@example.com",
        "template": "order_confirmation",
        "context": {"order_id": "o-1", "amount_display": "€1.00"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(EMAILS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    detail = client.get(f"{EMAILS}{sent.json()['id']}/").json()
    assert detail["status"] == EmailStatus.DELIVERED
    assert (detail["error_code"], detail["last_error"]) == ("", "")
    # Staff still see what the send itself hit, on its event.
    unknown = [e for e in detail["events"] if e["type"] == EmailStatus.UNKNOWN]
    assert [e["code"] for e in unknown] == ["read_timeout"]
