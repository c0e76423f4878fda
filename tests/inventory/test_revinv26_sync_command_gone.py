"""revinv26: ``sync_inventory``'s line "N level(s) gone at the ERP" counted
the run's ``gone_at_erp`` entries, which stop at the run's error cap
(MAX_ERRORS_KEPT, the first named for staff): 60 levels gone read as 49.
The line tells how many were set gone, however many are named."""

import contextlib
import io

import pytest
import responses
from django.core.management import CommandError, call_command

from inventory.models import StockLevel, SyncRun
from inventory.services.sync_pages import MAX_ERRORS_KEPT
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory
from tests.inventory.paged_erp import gecko_variant

pytestmark = pytest.mark.django_db

GONE = MAX_ERRORS_KEPT + 10


def _sync(account, variants) -> str:
    out = io.StringIO()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        body = {"variants": variants, "meta": {"total": len(variants)}}
        rsps.get(tg.VARIANTS, json=body)
        with contextlib.suppress(CommandError):
            call_command(
                "sync_inventory", "--account", account.slug, "--full", stdout=out
            )
    return out.getvalue()


@pytest.fixture
def account():
    account = tg.make_account()
    # A burst past the run's ~30 calls: TradeGecko's default pace (burst
    # 20, then 0.6/s) slept ~10 s of each test; the count is not about pace.
    account.settings = {
        **account.settings,
        "max_attempts": 1,
        "rate_limit_burst": 100,
    }
    account.save()
    LocationFactory(code="159", active=True)
    return account


def test_the_gone_line_counts_every_level_set_gone(account):
    keep = gecko_variant(1, "KEEP", 4)
    others = [gecko_variant(10 + n, f"G{n:03d}", 6) for n in range(GONE)]
    _sync(account, [keep, *others])
    assert StockLevel.objects.filter(on_hand=6).count() == GONE

    out = _sync(account, [keep])

    run = SyncRun.objects.latest("pk")
    assert run.status == "succeeded", run.errors
    assert StockLevel.objects.filter(on_hand=0).count() == GONE
    named = [e for e in run.errors if e["code"] == "gone_at_erp"]
    assert len(named) < GONE  # the cap: not every one is named
    lines = [line for line in out.splitlines() if "gone at the ERP" in line]
    assert len(lines) == 1
    assert lines[0].strip().startswith(f"{GONE} level(s) gone at the ERP")


def test_the_finished_log_counts_only_failed_pages(account, caplog):
    keep = gecko_variant(1, "KEEP", 4)
    _sync(account, [keep, gecko_variant(2, "GONE", 6)])

    with caplog.at_level("INFO", logger="inventory.services.sync"):
        _sync(account, [keep])

    [finished] = [r for r in caplog.records if r.msg == "inventory sync finished"]
    assert finished.status == "succeeded"
    assert finished.failed_pages == 0  # a level gone at the ERP is no page


def test_the_count_of_unnamed_gone_levels_keeps_the_runs_notes(account):
    """Errors full of refused levels and the note of levels set gone
    unasked (gone_unconfirmed): the count takes a refused level's slot."""
    keep = gecko_variant(1, "KEEP", 4)
    others = [gecko_variant(10 + n, f"G{n:03d}", 6) for n in range(GONE)]
    _sync(account, [keep, *others])
    bad = [{"location_id": f"x{n}"} for n in range(GONE)]
    odd = {**keep, "locations": [*keep["locations"], *bad]}

    out = _sync(account, [odd])

    run = SyncRun.objects.latest("pk")
    assert run.status == "succeeded", run.errors
    assert len(run.errors) == MAX_ERRORS_KEPT
    codes = [e["code"] for e in run.errors]
    assert "gone_unconfirmed" in codes
    assert f"  {GONE} level(s) gone at the ERP" in out
