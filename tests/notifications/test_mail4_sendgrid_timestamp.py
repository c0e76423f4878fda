"""A SendGrid event whose ``timestamp`` is unreadable (not Unix seconds,
missing, out of range) is stored with its error like any other malformed
event of a batch, never applied with no time; the batch's good events are
applied and the batch is answered 2xx (test_mail2_sendgrid_batch.py). An
event that stops its address (a hard bounce, a complaint) is the exception:
it is dated when received (test_mailx_sendgrid_undated.py)."""

import pytest

from integrations.models import WebhookStatus
from notifications.models import EmailEvent, Suppression
from tests.notifications.contract.harness_sendgrid import event
from tests.notifications.sendgrid_hooks import (
    processed_rows,
    sendgrid_account,  # noqa: F401 (the ``sendgrid`` fixture)
    signed_post,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "stamp",
    ["yesterday", "1700000000", 1.7e9, None, True, 10**15, -(10**15), [1]],
    ids=["word", "string", "float", "null", "bool", "far-future", "far-past", "list"],
)
def test_an_unreadable_timestamp_is_stored_with_its_error(sendgrid, stamp) -> None:
    good = event("delivered")
    bad = event("open", timestamp=stamp)
    response = signed_post(sendgrid, [good, bad])
    assert response.status_code == 200
    assert response.json()["stored"] == 2
    rows = processed_rows(sendgrid)
    (failed,) = [r for r in rows if r.status != WebhookStatus.PROCESSED]
    assert failed.status == WebhookStatus.DEAD
    assert "timestamp" in failed.last_error
    assert failed.payload["malformed_event"]["event"] == "open"
    # The open we cannot date is not applied.
    assert not EmailEvent.objects.exists()


def test_a_missing_timestamp_is_stored_with_its_error(sendgrid) -> None:
    bad = event("open")
    del bad["timestamp"]
    signed_post(sendgrid, [event("delivered"), bad])
    rows = processed_rows(sendgrid)
    (failed,) = [r for r in rows if r.status != WebhookStatus.PROCESSED]
    assert "timestamp" in failed.last_error
    assert not EmailEvent.objects.exists()


def test_a_readable_timestamp_is_applied(sendgrid) -> None:
    complaint = event("spamreport")
    signed_post(sendgrid, [complaint])
    (row,) = processed_rows(sendgrid)
    assert row.status == WebhookStatus.PROCESSED
    assert Suppression.objects.get().address == complaint["email"]
