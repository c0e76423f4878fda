"""inv26: ``sync_inventory``'s "failed pages" (progress line) and "failed"
(summary) figures were the number of the run's error entries: a full run
that read every page but found levels gone at the ERP (``gone_at_erp``, one
entry a level) or refused a level it could not read (``invalid_level``)
showed failed pages it never had. Only pages that failed are counted; the
levels gone at the ERP are shown apart, on one line."""

import contextlib
import io

import pytest
import responses
from django.core.management import CommandError, call_command

from inventory.models import SyncRun
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory
from tests.inventory.test_inv2_gone_at_erp import GONE, KEEP

pytestmark = pytest.mark.django_db


def _sync(account, variants, *args: str, status: int = 200) -> str:
    out = io.StringIO()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        if status == 200:
            body = {"variants": variants, "meta": {"total": len(variants)}}
            rsps.get(tg.VARIANTS, json=body)
        else:
            rsps.get(tg.VARIANTS, status=status, json={"message": "Bad Request"})
        with contextlib.suppress(CommandError):
            call_command("sync_inventory", "--account", account.slug, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def account():
    account = tg.make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    LocationFactory(code="159", active=True)
    LocationFactory(code="160", active=True)
    _sync(account, [KEEP, GONE], "--full")
    return account


def _row(out: str, slug: str) -> list[str]:
    return next(line for line in out.splitlines() if line.startswith(slug)).split()


def _progress(out: str) -> str:
    return out.split("\r")[-1].splitlines()[0]


def test_levels_gone_at_the_erp_are_no_failed_pages(account):
    out = _sync(account, [KEEP], "--full")

    run = SyncRun.objects.latest("pk")
    assert run.status == "succeeded"
    assert [e["code"] for e in run.errors] == ["gone_at_erp", "gone_at_erp"]
    # account, status, pages, seen, changed, failed pages
    assert _row(out, account.slug)[5] == "0"
    assert "2 level(s) gone at the ERP" in out
    assert _progress(out).endswith("failed pages 0")


def test_a_refused_level_is_no_failed_page(account):
    odd = {**KEEP, "locations": [*KEEP["locations"], {"location_id": "x"}]}

    out = _sync(account, [odd, GONE], "--full")

    run = SyncRun.objects.latest("pk")
    assert [e["code"] for e in run.errors] == ["invalid_level"]
    assert _row(out, account.slug)[5] == "0"
    assert _progress(out).endswith("failed pages 0")
    assert "gone at the ERP" not in out


def test_failed_pages_are_still_counted(account):
    out = _sync(account, [], "--full", status=500)

    run = SyncRun.objects.latest("pk")
    assert run.status == "failed"
    # The run steps past a failed page; each one asked and failed counts.
    failed = [e for e in run.errors if "cursor" in e]
    assert failed and len(failed) == len(run.errors)
    assert _row(out, account.slug)[5] == str(len(failed))
    assert _progress(out).endswith(f"failed pages {len(failed)}")
