"""r-inv38: a run that ended failed has its row in sync_inventory's summary
"its error code under it" (README). The summary lists a run's first five
errors only, and a run's own ending (``sync_failed``, appended last) came
after its failed pages: a run with five failed pages or refused levels
before it crashed showed those and not why the run ended."""

import io

import pytest
from django.core.management import CommandError, call_command

from integrations.errors import NotProcessed
from inventory.models import SandboxErpLevel, SyncRun
from inventory.providers.base import offset_from_cursor
from inventory.providers.sandbox import SandboxInventoryAdapter
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def flaky_then_crashing(monkeypatch):
    """Every other page the ERP is busy; the 14th page crashes the run."""
    answer = SandboxInventoryAdapter.levels

    def levels(self, query):
        offset = offset_from_cursor(query.cursor)
        if offset == 13:
            raise ValueError("disk full")
        if offset % 2:
            raise NotProcessed("the ERP is busy", code="provider_unavailable")
        return answer(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", levels)


@pytest.mark.usefixtures("flaky_then_crashing")
def test_a_run_failed_after_many_failed_pages_shows_why_it_ended(settings):
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    erp = ProviderAccountFactory(kind="inventory", slug="erp-flaky")
    SandboxErpLevel.objects.bulk_create(
        SandboxErpLevel(account=erp, sku=f"S{n:03d}", location_code="MAIN", on_hand=n)
        for n in range(20)
    )
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("sync_inventory", "--account", erp.slug, stdout=out)

    run = SyncRun.objects.get()
    assert run.status == "failed" and run.errors[-1]["code"] == "sync_failed"
    assert len(run.errors) > 5  # its failed pages come first
    assert "disk full" in str(raised.value)
    row = out.getvalue().split("account              status", 1)[1]
    assert "the run: sync_failed" in row
