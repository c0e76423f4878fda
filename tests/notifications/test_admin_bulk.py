"""Bulk sends in the admin: progress bar and outcomes, failed recipients,
and the cancel action (refused without the batch job change permission)."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from integrations.batch import batch_job_work
from integrations.batch import services as batch_services
from notifications.services.bulk import bulk_send_create, bulk_send_status

pytestmark = pytest.mark.django_db
NEWS = {"headline": "Spring sale", "body": "Everything is 10% off."}
CHANGELIST = "/admin/notifications/bulksend/"


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch) -> None:
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)


@pytest.fixture
def bulk(email_accounts):
    recipients = [{"email": f"r{i}@example.com"} for i in range(4)]
    recipients.append({"email": "invalid@example.com"})
    bulk = bulk_send_create(
        template="newsletter", context=NEWS, recipients=recipients, chunk_size=3
    ).bulk_send
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)  # the first chunk
    return bulk


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_progress_outcomes_and_failures(bulk) -> None:
    boss = User.objects.create_superuser("boss", "boss@example.com", "pw")
    staff = _client(boss)
    listing = staff.get(CHANGELIST)
    assert listing.status_code == 200
    assert b'<progress value="3" max="5"></progress> 3/5 done' in listing.content
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    page = staff.get(f"{CHANGELIST}{bulk.pk}/change/")
    assert page.status_code == 200
    assert b"4/5 done, 1 failed (100.0%)" in page.content
    assert b"failed: 1, sent: 4" in page.content
    assert b"invalid@example.com (failed, 1 attempt(s)): Rejected" in page.content


def test_cancel_needs_the_batch_job_change_permission(bulk) -> None:
    clerk = User.objects.create_user("clerk", "c@example.com", "pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_bulksend"))
    data = {"action": "cancel_selected", "_selected_action": [bulk.pk]}
    refused = _client(clerk).post(CHANGELIST, data)
    assert refused.status_code == 200  # no such action for this user
    assert bulk_send_status(bulk) == "running"

    clerk.user_permissions.add(Permission.objects.get(codename="change_batchjob"))
    response = _client(User.objects.get(pk=clerk.pk)).post(CHANGELIST, data)
    assert response.status_code == 302
    bulk.job.refresh_from_db()
    assert bulk_send_status(bulk) == "cancelled"
