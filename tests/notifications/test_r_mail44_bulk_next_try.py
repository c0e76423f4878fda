"""A bulk send's message whose row waits alone for a paused account
(``Defer``) is ``queued`` with a known next try: its row's. The API's
``next_try_at`` (docs: "its growing wait for a paused account") and the
admin's *next try* read only the message's ``retry_at``, which a bulk
message waiting so never has: they said null / "-" while the row had its
next try."""

import pytest

from integrations.models import BatchRowStatus
from notifications.models import BulkRecipient, EmailStatus
from tests.notifications.bulk_work import newsletter_bulk, work_bulk_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting_row(all_wait) -> BulkRecipient:
    """Its message refused for good by A; B, which could send it, paused."""
    bulk = newsletter_bulk([{"email": "ada@example.com"}])
    work_bulk_job(bulk.job_id)
    row = BulkRecipient.objects.select_related("message").get(job_id=bulk.job_id)
    assert row.status == BatchRowStatus.PENDING
    assert row.next_attempt_at is not None
    assert row.message.status == EmailStatus.QUEUED
    return row


def test_the_api_gives_a_waiting_bulk_message_its_rows_next_try(
    waiting_row, email_reader
) -> None:
    message = waiting_row.message
    body = email_reader.get(f"/api/v1/notifications/emails/{message.public_id}/")
    at = body.json()["next_try_at"]
    assert at is not None
    assert at.startswith(waiting_row.next_attempt_at.strftime("%Y-%m-%dT%H:%M:%S"))


def test_the_admin_shows_a_waiting_bulk_messages_next_try(
    waiting_row, admin_client
) -> None:
    page = admin_client.get(
        f"/admin/notifications/emailmessage/{waiting_row.message.pk}/change/"
    )
    assert page.status_code == 200
    assert b"waiting, next try at " in page.content
