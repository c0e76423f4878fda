"""A full TradeGecko run's total fell (a variant deleted during the run) and
every page after it was marked ``shifted`` with no check: the run was
partial (``listing_shifted``, "since" kept) even where the overlapping page
(revinv22) read the page before's last variant again, which proves nothing
was skipped at that boundary whatever the total did. Found there, the page
is not shifted; not found, a fall still marks it (as before, at no request
more). The totals' change still stops the deletion check (sync_gone): the
variant deleted is set to 0 by the next full run."""

import pytest

from inventory.models import SyncStatus
from inventory.services.sync import next_since
from tests.inventory.paged_erp import (
    SKUS,
    gecko_paged_account,
    synced_levels,
)
from tests.inventory.test_revinv20_restored_variant import SoftDeletingGecko, _variant

pytestmark = pytest.mark.django_db


class LaterGecko(SoftDeletingGecko):
    """``between`` runs once the run's ``after``-th request is answered."""

    after = 2

    def answer(self, request):
        hook, self.between = self.between, None
        found = super().answer(request)
        if hook is not None and len(self.asked) - self.start >= self.after:
            hook()
        else:
            self.between = hook
        return found

    def sync(self, account, *, full: bool):
        self.start = len(self.asked)
        return super().sync(account, full=full)


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


def _gecko() -> LaterGecko:
    # Ids 10 .. 250; asked 10 a page: places 0-9, 9-17 (9 a page), 16-23
    # (8 a page): page 3 holds page 2's last (place 17) and the one before.
    gecko = LaterGecko([_variant(n * 10, sku) for n, sku in enumerate(SKUS, start=1)])
    gecko.start = 0
    return gecko


def _probes(gecko: SoftDeletingGecko, since: int) -> list[dict]:
    return [asked for asked in gecko.asked[since:] if int(asked["limit"]) <= 3]


def test_a_deletion_before_a_boundary_the_overlap_proves_leaves_the_run_whole(
    account,
):
    gecko = _gecko()
    assert gecko.sync(account, full=True).status == SyncStatus.SUCCEEDED
    since = next_since(account)
    # Page 2 read (S16 .. S08); then S20, on page 1, deleted: S08 moves to
    # place 16, still on page 3.
    gecko.between = lambda: gecko.set_status("S20", "archived")
    asked_before = len(gecko.asked)

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert run.covered
    assert "listing_shifted" not in [e["code"] for e in run.errors]
    assert _probes(gecko, asked_before) == []  # proven at no request more
    assert next_since(account) != since
    # The listing changed size: no deletion is proven by this run ...
    assert synced_levels()["S20"] == 6
    assert not [e for e in run.errors if e["code"] == "gone_at_erp"]
    # ... the next full run sets it to 0.
    after = gecko.sync(account, full=True)
    assert after.status == SyncStatus.SUCCEEDED
    assert synced_levels()["S20"] == 0
    assert {sku: synced_levels()[sku] for sku in SKUS if sku != "S20"} == (
        dict.fromkeys([sku for sku in SKUS if sku != "S20"], 6)
    )


def test_more_deletions_than_the_overlap_holds_still_leave_it_partial(account):
    """Three deleted on page 1 after page 2: S08 moves to place 14, before
    page 3 (16-23), and S07 to 15, skipped: the page is shifted."""
    gecko = _gecko()
    gecko.sync(account, full=True)
    since = next_since(account)

    def meanwhile() -> None:
        for sku in ("S25", "S24", "S23"):
            gecko.set_status(sku, "archived")

    gecko.between = meanwhile

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.PARTIAL
    assert "listing_shifted" in [e["code"] for e in run.errors]
    assert synced_levels()["S07"] == 6  # skipped, not zeroed
    assert next_since(account) == since
