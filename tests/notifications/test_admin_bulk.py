"""Bulk sends in the admin: progress bar and outcomes, failed recipients,
the live progress view a running send's page polls, and cancel as an action
and as a button (refused without the batch job change permission)."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from integrations.batch import batch_job_work
from integrations.batch import services as batch_services
from notifications.services.bulk import (
    bulk_send_counts,
    bulk_send_create,
    bulk_send_status,
)

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


def _progress_url(bulk) -> str:
    return f"{CHANGELIST}{bulk.pk}/progress/"


def test_the_progress_view_follows_the_send_until_it_settles(bulk) -> None:
    staff = _client(User.objects.create_superuser("boss", "b@example.com", "pw"))
    running = staff.get(_progress_url(bulk))
    assert running.status_code == 200
    assert "no-store" in running["Cache-Control"]
    assert running.json() == {
        "status": "running",
        "running": True,
        "outcomes": "pending: 2, sent: 3",
        "total": 5,
        "settled": 3,
        "percent": 60.0,
        "summary": running.json()["summary"],
    }
    assert running.json()["summary"].startswith("3/5 done, 0 failed (60.0%)")
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    settled = staff.get(_progress_url(bulk)).json()
    assert (settled["status"], settled["running"], settled["settled"]) == (
        "done",
        False,
        5,
    )
    assert settled["outcomes"] == "failed: 1, sent: 4"
    assert staff.get(f"{CHANGELIST}999999/progress/").status_code == 404


def test_the_progress_view_needs_the_view_permission(bulk) -> None:
    clerk = User.objects.create_user("clerk", "c@example.com", "pw", is_staff=True)
    assert _client(clerk).get(_progress_url(bulk)).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_bulksend"))
    clerk = User.objects.get(pk=clerk.pk)
    assert _client(clerk).get(_progress_url(bulk)).json()["running"] is True
    assert Client().get(_progress_url(bulk)).status_code == 302  # to the login


def test_a_running_send_page_polls_and_offers_cancel(bulk) -> None:
    staff = _client(User.objects.create_superuser("boss", "b@example.com", "pw"))
    page = staff.get(f"{CHANGELIST}{bulk.pk}/change/").content.decode()
    assert "notifications/admin/bulk_progress.js" in page
    assert f'data-progress-url="{_progress_url(bulk)}" data-running="1"' in page
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
    assert 'id="bulk-cancel"' in page
    listing = staff.get(CHANGELIST).content.decode()
    assert 'data-running="1"' in listing
    assert "notifications/admin/bulk_progress.js" in listing

    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    done = staff.get(f"{CHANGELIST}{bulk.pk}/change/").content.decode()
    assert 'data-running="0"' in done
    assert "http-equiv" not in done
    assert 'id="bulk-cancel"' not in done
    script = staff.get("/static/notifications/admin/bulk_progress.js")
    assert script.status_code == 200


def test_the_cancel_button_cancels_with_the_batch_job_permission(bulk) -> None:
    clerk = User.objects.create_user("clerk", "c@example.com", "pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_bulksend"))
    url = f"{CHANGELIST}{bulk.pk}/cancel/"
    page = _client(clerk).get(f"{CHANGELIST}{bulk.pk}/change/")
    assert b'id="bulk-cancel"' not in page.content
    assert _client(clerk).post(url).status_code == 403
    assert bulk_send_status(bulk) == "running"

    clerk.user_permissions.add(Permission.objects.get(codename="change_batchjob"))
    allowed = _client(User.objects.get(pk=clerk.pk))
    assert allowed.get(url).status_code == 405
    response = allowed.post(url, follow=True)
    assert response.redirect_chain[-1][0] == f"{CHANGELIST}{bulk.pk}/change/"
    assert f"Bulk send {bulk.public_id}: cancelled." in response.content.decode()
    bulk.job.refresh_from_db()
    assert bulk_send_status(bulk) == "cancelled"
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    assert bulk_send_counts(bulk) == {"pending": 2, "sent": 3}
