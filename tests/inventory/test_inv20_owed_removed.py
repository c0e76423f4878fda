"""Since h/invy no adapter owes its failed pages (a page number, an offset or
a key asked again later holds other records): the owed-pages workflow
(owing, asking again, backing off, alerting) ran for nobody and the runs
list kept an "owed pages" column that stayed empty. It is gone; what stays
is the upgrade path: pages a run of an older version owed make the next run
read their window whole, and a run that read it drops them."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inventory import services
from inventory.models import SandboxErpLevel, StockLevel, SyncRun
from inventory.providers import base, sandbox
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def _owed_page(run_pk: int, since: str | None) -> dict:
    at = timezone.now().isoformat()
    return {
        "run": run_pk,
        "since": since,
        "cursor": "1",
        "limit": 1,
        "tries": 3,
        "failed_at": at,
        "next_at": at,
        "code": "server_error",
        "message": "ERP 500",
        "alerted": True,
    }


def test_the_runs_list_has_no_owed_pages_column(admin_client):
    erp = ProviderAccountFactory(kind="inventory", slug="erp-listing")
    SyncRun.objects.create(account=erp, status="succeeded", covered=True)

    listing = admin_client.get(reverse("admin:inventory_syncrun_changelist"))

    assert listing.status_code == 200
    assert "owed pages" not in listing.content.decode().lower()


def test_no_adapter_can_declare_it_owes_pages():
    # The switch the dead workflow hung on is gone with it.
    assert not hasattr(base.InventoryAdapter, "owes_failed_pages")
    assert not hasattr(sandbox.SandboxInventoryAdapter, "owes_failed_pages")


def test_a_page_owed_before_the_upgrade_is_read_with_its_window_not_alone():
    """A legacy owed page under "since" None (owed by a full run): the next
    run reads the whole listing once, asks no page alone, and drops it."""
    erp = ProviderAccountFactory(kind="inventory", slug="erp-legacy")
    old = timezone.now() - timedelta(hours=2)
    for sku in ("A", "B"):
        SandboxErpLevel.objects.create(
            account=erp, sku=sku, location_code="MAIN", on_hand=4, modified_at=old
        )
    owing = SyncRun.objects.create(
        account=erp, status="partial", covered=True, full=True, started_at=old
    )
    owing.owed = [_owed_page(owing.pk, None)]
    owing.save(update_fields=["owed"])

    run = services.inventory_sync(account=erp)

    assert run.since is None  # the whole listing, as the page was owed
    assert (run.status, run.owed, run.pages) == ("succeeded", [], 1)
    assert set(StockLevel.objects.values_list("sku", flat=True)) == {"A", "B"}
    # Read whole, the next run goes back to its own "since".
    assert services.inventory_sync(account=erp).since is not None


def test_a_run_that_misses_a_page_keeps_the_legacy_pages_for_the_next(monkeypatch):
    from integrations.errors import Unknown

    erp = ProviderAccountFactory(kind="inventory", slug="erp-legacy-2")
    old = timezone.now() - timedelta(hours=2)
    SandboxErpLevel.objects.create(
        account=erp, sku="A", location_code="MAIN", on_hand=4, modified_at=old
    )
    owing = SyncRun.objects.create(
        account=erp, status="partial", covered=True, started_at=old
    )
    owing.owed = [_owed_page(owing.pk, old.isoformat())]
    owing.save(update_fields=["owed"])

    def down(self, query):
        raise Unknown("ERP timed out", code="read_timeout")

    monkeypatch.setattr(sandbox.SandboxInventoryAdapter, "levels", down)
    failed = services.inventory_sync(account=erp)

    assert not failed.covered and failed.owed == owing.owed
    monkeypatch.undo()
    again = services.inventory_sync(account=erp)
    assert again.since <= old and again.owed == []
