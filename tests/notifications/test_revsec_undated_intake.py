"""A signed Mailgun event whose time is unreadable is stored, however its
other fields read: the intake's new look at whether it stops its address
(dated when received) must not refuse it. A field of the wrong type (a list
for ``reason``) made that look raise, and the intake answered 400 and kept
nothing; a dated event of the same body is stored and dead with its error."""

import pytest
from django.test import Client

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process
from notifications.models import Suppression
from tests.notifications.contract import harness_mailgun as mailgun

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("stamp", ["yesterday", 1534110422], ids=["undated", "dated"])
def test_mailgun_event_with_a_garbled_reason_is_stored_dead(stamp) -> None:
    account = mailgun.make_account()
    data = mailgun.event("failed_permanent", timestamp=stamp, reason=["bounce"])
    hook = mailgun.signed(data)
    response = Client().generic(
        "POST", f"/webhooks/{account.slug}/", hook.body, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get(account=account)
    webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    assert row.status == WebhookStatus.DEAD
    assert "TypeError" in row.last_error
    assert not Suppression.objects.exists()
