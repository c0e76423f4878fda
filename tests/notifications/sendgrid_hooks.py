"""Set-up shared by the SendGrid Event Webhook tests: an account holding our
verification key (imported; the fixture by its name ``sendgrid``), a batch
posted signed to its webhook URL, and the stored rows processed."""

import json
import time

import pytest
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent
from integrations.webhooks.services import webhook_event_process
from notifications.providers.sendgrid_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from tests.factories import ProviderAccountFactory
from tests.notifications.signing_keys import sendgrid_public_key_text, sendgrid_sign


@pytest.fixture(name="sendgrid")
def sendgrid_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="sendgrid",
        credentials={
            "api_key": "SG.key",
            "webhook_verification_key": sendgrid_public_key_text(),
        },
    )


def signed_post(account: ProviderAccount, events: object, *, key=None):
    """``events`` posted as SendGrid signs a batch (with ``key``, if given)."""
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    signature = (
        sendgrid_sign(body, stamp, key=key) if key else sendgrid_sign(body, stamp)
    )
    return Client().post(
        f"/webhooks/{account.slug}/",
        data=body,
        content_type="application/json",
        headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature},
    )


def processed_rows(account: ProviderAccount) -> list[WebhookEvent]:
    """The account's stored webhook rows, each processed once, in order."""
    rows = []
    for row in WebhookEvent.objects.filter(account=account).order_by("pk"):
        webhook_event_process(event_id=row.pk)
        row.refresh_from_db()
        rows.append(row)
    return rows
