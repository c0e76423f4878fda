"""Cancelling a bulk send while a row waits (its message handed back
``queued``: paced, or waiting alone for a paused account) must not leave that
message ``queued`` for ever: the single sweeper skips bulk messages and the
cancelled job never works the row again. It ends ``failed`` with its own
code and reason, stored, and the send's outcomes stop calling it waiting."""

import pytest
from rest_framework.test import APIClient

from integrations.batch import batch_job_cancel, batch_job_work
from integrations.models import BatchJob
from notifications.models import EmailMessage, EmailStatus
from notifications.services import email_messages_sweep
from notifications.services.bulk import bulk_send_counts
from notifications.services.failures import public_error
from tests.factories import ApiKeyFactory
from tests.notifications.bulk_work import ODD, odd_and_others_bulk

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("no_batch_tasks", "odd_waits"),
]


def _bulk_with_a_waiting_row():
    bulk = odd_and_others_bulk()
    for _ in range(3):
        batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    assert bulk_send_counts(bulk) == {"sent": 2, "waiting": 1}
    return bulk


def _assert_ended(bulk) -> None:
    message = EmailMessage.objects.get(bulk_send=bulk, to_email=ODD)
    assert message.status == EmailStatus.FAILED
    assert message.error_code == "bulk_cancelled"
    assert "cancelled" in message.last_error
    assert "cancelled" in public_error(message)
    (event,) = message.events.filter(type=EmailStatus.FAILED)
    assert event.details["code"] == "bulk_cancelled"
    counts = bulk_send_counts(bulk)
    assert "waiting" not in counts
    assert counts == {"sent": 2, "cancelled": 1}


def test_cancel_through_the_api_ends_the_waiting_message() -> None:
    bulk = _bulk_with_a_waiting_row()
    key = ApiKeyFactory(scopes=["email:send", "email:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")

    answer = api.post(f"/api/v1/notifications/bulk-sends/{bulk.public_id}/cancel/")

    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"
    assert answer.json()["outcomes"] == {"sent": 2, "cancelled": 1}
    _assert_ended(bulk)


def test_a_batch_job_cancel_is_ended_by_the_sweep() -> None:
    # The generic batch cancel (the Batch jobs admin, manage.py
    # batch_jobs) knows nothing of email: the every-minute sweep ends it.
    bulk = _bulk_with_a_waiting_row()
    batch_job_cancel(job_id=bulk.job_id)
    assert BatchJob.objects.get(pk=bulk.job_id).status == "cancelled"

    email_messages_sweep()

    _assert_ended(bulk)


def test_a_running_send_keeps_its_waiting_message() -> None:
    bulk = _bulk_with_a_waiting_row()

    email_messages_sweep()

    message = EmailMessage.objects.get(bulk_send=bulk, to_email=ODD)
    assert message.status == EmailStatus.QUEUED
    assert bulk_send_counts(bulk) == {"sent": 2, "waiting": 1}
