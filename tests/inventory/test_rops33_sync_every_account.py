"""r-ops33: ``sync_inventory`` (every account) stopped at the first account
whose sync raised (credentials unreadable, a sync under way, a crash): the
accounts after it were never synced and no summary was printed, so one
broken ERP account stopped stock sync for all the others. Every account is
now synced, each failure said in one line, and the exit status is non-zero
if any failed. The schedule already runs one task per account: a broken
account there leaves the others synced."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from integrations import crypto
from inventory import tasks
from inventory.models import SandboxErpLevel, StockLevel, SyncRun
from inventory.services.errors import InventoryError
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

OLD = crypto.generate_key()
NEW = crypto.generate_key()


@pytest.fixture
def accounts():
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        broken = ProviderAccountFactory(kind="inventory", slug="erp-broken")
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        good = ProviderAccountFactory(kind="inventory", slug="erp-good")
    SandboxErpLevel.objects.create(
        account=good,
        sku="GOOD-1",
        location_code="MAIN",
        on_hand=7,
        modified_at=timezone.now() - timedelta(hours=1),
    )
    return broken, good


def test_a_broken_account_does_not_stop_the_ones_after_it(accounts):
    broken, good = accounts
    out, err = io.StringIO(), io.StringIO()
    with (
        override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]),
        pytest.raises(CommandError) as raised,
    ):
        call_command("sync_inventory", stdout=out, stderr=err)

    assert SyncRun.objects.get(account=good).status == "succeeded"
    assert StockLevel.objects.filter(sku="GOOD-1").exists()
    assert SyncRun.objects.get(account=broken).status == "failed"
    printed = out.getvalue() + err.getvalue()
    # One line for the broken account, naming it and why.
    lines = [line for line in printed.splitlines() if "cannot be decrypted" in line]
    assert len(lines) == 1 and lines[0].startswith("erp-broken: ")
    assert "erp-good" in out.getvalue()  # in the summary
    assert "erp-broken" in str(raised.value) and "\n" not in str(raised.value)


def test_the_exit_status_is_zero_when_every_account_synced(accounts):
    broken, _good = accounts
    broken.enabled = False
    broken.save()
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        call_command("sync_inventory", stdout=io.StringIO(), stderr=io.StringIO())
    assert StockLevel.objects.filter(sku="GOOD-1").exists()


def test_the_schedule_syncs_the_others_too(
    accounts, monkeypatch, django_capture_on_commit_callbacks
):
    broken, good = accounts
    queued: list[int] = []
    monkeypatch.setattr(
        "inventory.services.sync.async_task",
        lambda func, run_id, **kw: queued.append(run_id),
    )
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.sync_all_accounts() == 2
        # The broken account's task fails on its own (the worker logs it).
        for run_id in list(queued):
            with django_capture_on_commit_callbacks(execute=True):
                try:
                    tasks.run_sync(run_id)
                except InventoryError as error:
                    assert error.code == "credentials_unreadable"
    assert SyncRun.objects.get(account=good).status == "succeeded"
    assert StockLevel.objects.filter(sku="GOOD-1").exists()
    assert SyncRun.objects.get(account=broken).errors[-1]["code"] == (
        "credentials_unreadable"
    )
