"""README's commands table says what ``batch_jobs`` lists: bulk email sends'
jobs. An ERP sync is a sync run, not a batch job: ``batch_jobs`` never shows
one, and the README points to where sync runs are seen instead."""

import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory.models import SandboxErpLevel, SyncRun
from tests.factories import ProviderAccountFactory
from tests.platform.conftest import ROOT

pytestmark = pytest.mark.django_db


def _readme_row(command: str) -> str:
    text = (ROOT / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith(f"| `{command}")]
    assert len(rows) == 1, rows
    return rows[0]


def test_an_erp_sync_is_not_a_batch_job():
    account = ProviderAccountFactory(kind="inventory", slug="erp")
    SandboxErpLevel.objects.create(
        account=account,
        sku="S1",
        location_code="MAIN",
        on_hand=3,
        modified_at=timezone.now(),
    )
    call_command("sync_inventory", "--account", "erp", stdout=io.StringIO())
    assert SyncRun.objects.filter(account=account).count() == 1

    out = io.StringIO()
    call_command("batch_jobs", "list", stdout=out)

    assert "erp" not in out.getvalue().lower()
    assert not re.search(r"sync", out.getvalue(), re.I), out.getvalue()


def test_readme_says_batch_jobs_lists_bulk_sends_and_where_sync_runs_are():
    row = _readme_row("batch_jobs")
    assert "ERP sync" not in row, row
    assert "bulk" in row.lower(), row
    sync_row = _readme_row("sync_inventory")
    assert "Sync runs" in sync_row, sync_row
