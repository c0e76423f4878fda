"""The upgrade path of the owed-pages workflow (inv20 removed it): a run
under way when the new version arrives may have owed a page of its own
listing (an older version owed a failed page instead of marking the run
incomplete, so its saved position says ``incomplete: false``). Resumed, it
must not count as having read that page: "since" would move past records it
never read, and the page's window would never be read again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services
from inventory.models import SandboxErpLevel, StockLevel, SyncRun, SyncStatus
from inventory.services.sync import next_since
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def _own_page(run: SyncRun, cursor: str) -> dict:
    at = timezone.now().isoformat()
    return {
        "run": run.pk,
        "since": run.since.isoformat(),
        "cursor": cursor,
        "limit": 1,
        "tries": 1,
        "failed_at": at,
        "next_at": at,
        "code": "read_timeout",
        "message": "ERP timed out",
        "alerted": False,
    }


def test_a_run_resumed_with_a_page_it_owed_itself_moves_no_since(settings):
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    erp = ProviderAccountFactory(kind="inventory", slug="erp-mid-upgrade")
    two_hours_ago = timezone.now() - timedelta(hours=2)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    for sku in ("A", "B", "C"):
        SandboxErpLevel.objects.create(
            account=erp,
            sku=sku,
            location_code="MAIN",
            on_hand=4,
            modified_at=an_hour_ago,
        )
    SyncRun.objects.create(
        account=erp,
        status=SyncStatus.SUCCEEDED,
        covered=True,
        full=True,
        started_at=two_hours_ago,
    )
    earlier_since = next_since(erp)
    # Saved by the older version after page 1 ("1") failed and was owed.
    running = SyncRun.objects.create(
        account=erp,
        status=SyncStatus.RUNNING,
        since=two_hours_ago,
        started_at=timezone.now() - timedelta(minutes=1),
        pages=2,
        errors=[
            {
                "cursor": "1",
                "code": "read_timeout",
                "message": "ERP timed out",
            }
        ],
        position={
            "limit": 1,
            "cursor": "2",
            "skus": [],
            "after_sku": None,
            "failures": 0,
            "owed_failures": 0,
            "done": False,
            "incomplete": False,
            "seen": None,
            "listed_total": None,
        },
    )
    running.owed = [_own_page(running, "1")]
    running.save(update_fields=["owed"])

    services.sync_run_continue(run_id=running.pk)

    running.refresh_from_db()
    assert running.status != SyncStatus.RUNNING
    # Page "1" (B) was never read: the run does not cover its window.
    assert not running.covered
    assert next_since(erp) == earlier_since
    # The next run reads the window again, B among it, and clears the page.
    again = services.inventory_sync(account=erp)
    assert again.since <= two_hours_ago
    assert again.owed == []
    assert StockLevel.objects.filter(sku="B").exists()
