"""A full TradeGecko run whose total fell between two pages marked the
later page ``shifted`` (the run partial, "since" kept) at no request more
whenever the overlapping page did not hold the page before's last variant
again: common on page 2, whose overlap is one place, so one deletion on
page 1 while the run read it left a whole run partial though nothing was
skipped. A fall is now checked by the boundary look-up used when the total
did not fall (``boundary_held``): only a boundary it disproves marks the
page."""

import pytest

from inventory.models import SyncStatus
from inventory.services.sync import next_since
from tests.inventory.paged_erp import (
    SKUS,
    gecko_paged_account,
    synced_levels,
)
from tests.inventory.test_inv24_growth_and_deletion import StagedGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


def _gecko() -> StagedGecko:
    # Ids 10 .. 250, S25 newest; pages of 10: places 0-9, then 9-17 (9 a
    # page): page 2 holds page 1's last (S16, place 9) at its first place.
    return StagedGecko([_variant(n * 10, sku) for n, sku in enumerate(SKUS, start=1)])


def _probes(gecko: StagedGecko, since: int) -> list[tuple[str, str]]:
    # The look-ups ask 2 or 3 a page; the pages 8 to 10.
    return [
        (asked["page"], asked["limit"])
        for asked in gecko.asked[since:]
        if int(asked["limit"]) <= 3
    ]


def test_a_fall_the_look_up_proves_harmless_leaves_the_run_whole(account):
    gecko = _gecko()
    assert gecko.sync(account, full=True).status == SyncStatus.SUCCEEDED
    since = next_since(account)
    # Page 1 read (S25 .. S16); then S20 deleted: S16 moves to place 8,
    # before page 2, and S15 to place 9, page 2's first: nothing skipped.
    gecko.writes[1] = lambda: gecko.set_status("S20", "archived")
    asked_before = len(gecko.asked)

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert "listing_shifted" not in [e["code"] for e in run.errors]
    assert next_since(account) != since
    # Places 8 and 9 in one answer: S16 directly followed by S15.
    assert _probes(gecko, asked_before) == [("5", "2")]
    levels = synced_levels()
    assert {sku: levels[sku] for sku in SKUS} == dict.fromkeys(SKUS, 6)
    # Deleted after its page was read: listed, so not set to 0 as gone.
    assert not [e for e in run.errors if e["code"] == "gone_at_erp"]


def test_a_fall_the_look_up_disproves_still_leaves_the_run_partial(account):
    gecko = _gecko()
    gecko.sync(account, full=True)
    since = next_since(account)

    def meanwhile() -> None:
        # S16 moves to place 7 and S15 to place 8: before page 2, unread.
        gecko.set_status("S20", "archived")
        gecko.set_status("S19", "archived")

    gecko.writes[1] = meanwhile
    asked_before = len(gecko.asked)

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.PARTIAL
    assert "listing_shifted" in [e["code"] for e in run.errors]
    assert _probes(gecko, asked_before)  # looked up, and disproved
    assert synced_levels()["S15"] == 6  # skipped, not zeroed
    assert next_since(account) == since
