"""A bulk send whose waiting recipient's next try has passed (the job
resting until its sweep) says so in the API: ``next_try_at`` is that time
and ``next_try_due`` true, as a single send's. Before, the passed row was
left out: ``next_try_at`` was null ("none waits") while it waited."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from notifications.models import BulkRecipient
from tests.notifications.bulk_work import newsletter_bulk, work_bulk_job

pytestmark = pytest.mark.django_db


def test_an_overdue_recipient_is_due_now(email_reader, all_wait) -> None:
    bulk = newsletter_bulk([{"email": "ada@example.com"}])
    work_bulk_job(bulk.job_id)
    url = f"/api/v1/notifications/bulk-sends/{bulk.public_id}/"
    ahead = email_reader.get(url).json()
    assert ahead["next_try_at"] is not None and ahead["next_try_due"] is False
    at = database_now() - timedelta(minutes=3)
    BulkRecipient.objects.filter(job_id=bulk.job_id).update(next_attempt_at=at)
    body = email_reader.get(url).json()
    assert body["next_try_at"] is not None
    assert body["next_try_at"].startswith(at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert body["next_try_due"] is True
