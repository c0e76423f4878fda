"""A SendGrid event whose ``timestamp`` is unreadable (not Unix seconds,
missing, out of range) is stored with its error like any other malformed
event of a batch, never applied with no time; the batch's good events are
applied and the batch is answered 2xx (test_mail2_sendgrid_batch.py). An
event that stops its address (a hard bounce, a complaint) is the exception:
it is dated when received (test_mailx_sendgrid_undated.py)."""

import json
import time

import pytest
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process
from notifications.models import EmailEvent, Suppression
from notifications.providers.sendgrid_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness_sendgrid import event
from tests.notifications.signing_keys import sendgrid_public_key_text, sendgrid_sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def sendgrid() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="sendgrid",
        credentials={
            "api_key": "SG.key",
            "webhook_verification_key": sendgrid_public_key_text(),
        },
    )


def _post(account: ProviderAccount, events: object):
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    return Client().post(
        f"/webhooks/{account.slug}/",
        data=body,
        content_type="application/json",
        headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sendgrid_sign(body, stamp)},
    )


def _process_all(account: ProviderAccount) -> list[WebhookEvent]:
    rows = []
    for row in WebhookEvent.objects.filter(account=account).order_by("pk"):
        webhook_event_process(event_id=row.pk)
        row.refresh_from_db()
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    "stamp",
    ["yesterday", "1700000000", 1.7e9, None, True, 10**15, -(10**15), [1]],
    ids=["word", "string", "float", "null", "bool", "far-future", "far-past", "list"],
)
def test_an_unreadable_timestamp_is_stored_with_its_error(sendgrid, stamp) -> None:
    good = event("delivered")
    bad = event("open", timestamp=stamp)
    response = _post(sendgrid, [good, bad])
    assert response.status_code == 200
    assert response.json()["stored"] == 2
    rows = _process_all(sendgrid)
    (failed,) = [r for r in rows if r.status != WebhookStatus.PROCESSED]
    assert failed.status == WebhookStatus.DEAD
    assert "timestamp" in failed.last_error
    assert failed.payload["malformed_event"]["event"] == "open"
    # The open we cannot date is not applied.
    assert not EmailEvent.objects.exists()


def test_a_missing_timestamp_is_stored_with_its_error(sendgrid) -> None:
    bad = event("open")
    del bad["timestamp"]
    _post(sendgrid, [event("delivered"), bad])
    rows = _process_all(sendgrid)
    (failed,) = [r for r in rows if r.status != WebhookStatus.PROCESSED]
    assert "timestamp" in failed.last_error
    assert not EmailEvent.objects.exists()


def test_a_readable_timestamp_is_applied(sendgrid) -> None:
    complaint = event("spamreport")
    _post(sendgrid, [complaint])
    (row,) = _process_all(sendgrid)
    assert row.status == WebhookStatus.PROCESSED
    assert Suppression.objects.get().address == complaint["email"]
