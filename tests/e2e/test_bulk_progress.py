"""Staff watch a running bulk send's progress bar move without reloading
the page, then cancel the send from its page."""

import pytest

from integrations.batch import batch_job_work
from integrations.batch import services as batch_services
from notifications.models import SandboxEmail
from notifications.services.bulk import bulk_send_create, bulk_send_status
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEWS = {"headline": "Spring sale", "body": "Everything is 10% off."}


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch) -> None:
    """The test works the job itself, one chunk at a time."""
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)


def test_the_bar_moves_live_and_the_send_is_cancelled(admin_login, live_server):
    ProviderAccountFactory(kind="email", slug="sandbox-email")
    bulk = bulk_send_create(
        template="newsletter",
        context=NEWS,
        recipients=[{"email": f"r{i}@example.com"} for i in range(6)],
        chunk_size=2,
    ).bulk_send
    page = admin_login()
    page.goto(f"{live_server.url}/admin/notifications/bulksend/{bulk.pk}/change/")
    bar = page.locator(".bulk-progress progress")
    assert bar.get_attribute("value") == "0"
    page.evaluate("window.notReloaded = true")

    batch_job_work(job_id=bulk.job_id, budget_seconds=0)  # two of six sent
    page.wait_for_function(
        "document.querySelector('.bulk-progress progress').value == 2"
    )
    assert "2/6 done" in page.locator(".bulk-progress").inner_text()
    assert page.locator(f'[data-bulk-outcomes="{bulk.pk}"]').inner_text() == (
        "pending: 4, sent: 2"
    )
    assert page.evaluate("window.notReloaded") is True

    page.click("#bulk-cancel")
    page.wait_for_url(f"**/bulksend/{bulk.pk}/change/")
    assert f"Bulk send {bulk.public_id}: cancelled." in page.inner_text(".messagelist")
    assert page.locator(f'[data-bulk-status="{bulk.pk}"]').inner_text() == "cancelled"
    assert page.locator("#bulk-cancel").count() == 0
    bulk.job.refresh_from_db()
    assert bulk_send_status(bulk) == "cancelled"
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    assert SandboxEmail.objects.count() == 2
