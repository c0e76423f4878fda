"""TradeGecko deletes softly: a deleted variant gets status ``archived`` and
is not listed by default (tradegecko/smaug @ 903625bc, "Soft Deletion";
a variant's ``status`` is 'active' or 'archived'), and staff can restore it:
it is listed again with its old id. The adapter sends no ``status`` filter,
so a full run's listing (asked by descending id) loses a variant on a
deletion and gains one at any place on a restore. A deletion before the
page boundary and a restore past it between two pages keep ``meta.total``
as it was while a live variant moves past the next page, unread: the totals
cannot prove a boundary, so it is checked by its place."""

import json

import pytest

from inventory.models import SyncStatus
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import (
    GeckoListing,
    gecko_variant,
    paged_account,
    synced_levels,
)

pytestmark = pytest.mark.django_db


class SoftDeletingGecko(GeckoListing):
    """/variants as TradeGecko lists it: archived variants left out unless
    asked by ``status``, in the id order asked, the total both in
    ``X-Pagination`` (every listing) and ``meta.total`` (as recorded for
    /variants). ``between`` runs once page 1 of a run is answered."""

    def answer(self, request):
        params = dict(request.params)
        if "sku" in params:
            return self.look_up(params["sku"])
        self.asked.append(params)
        listed = [v for v in self.variants if v.get("status") != "archived"]
        order = params.get("order", "").lower()
        if order in ("id asc", "id desc"):
            listed.sort(key=lambda v: v["id"], reverse=order == "id desc")
        limit, page = int(params["limit"]), int(params.get("page", 1))
        rows = listed[(page - 1) * limit : page * limit]
        pages = -(-len(listed) // limit)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Pagination": json.dumps(
                {
                    "total_records": len(listed),
                    "total_pages": pages,
                    "first_page": page == 1,
                    "last_page": page >= pages,
                    "out_of_bounds": page > pages,
                    "offset": (page - 1) * limit,
                }
            ),
        }
        body = {"variants": rows, "meta": {"total": len(listed)}}
        if page == 1 and limit > 1 and self.between is not None:
            self.between, between = None, self.between
            between()
        return 200, headers, json.dumps(body)

    def set_status(self, sku: str, status: str) -> None:
        found = next(v for v in self.variants if v["sku"] == sku)
        found["status"] = status


def _variant(variant_id: int, sku: str, status: str = "active") -> dict:
    return {**gecko_variant(variant_id, sku, 6), "status": status}


@pytest.fixture
def account(settings):
    return paged_account(settings, tg.make_account, "159")


def test_a_deletion_and_a_restore_between_pages_zero_no_live_variant(account):
    """F and E read (page 1); then F is deleted (archived) and R, archived
    long ago with the oldest id, restored: the total stays 6, D moves onto
    page 1, already read, and page 2 answers C and B. D is live at
    TradeGecko and must not be zeroed as gone."""
    gecko = SoftDeletingGecko(
        [_variant(5, "R", status="archived")]
        + [_variant(n * 10, sku) for n, sku in enumerate("ABCDEF", start=1)]
    )
    first = gecko.sync(account, full=True)
    assert first.status == SyncStatus.SUCCEEDED
    assert synced_levels() == dict.fromkeys("ABCDEF", 6)

    def meanwhile() -> None:
        gecko.set_status("F", "archived")
        gecko.set_status("R", "active")

    gecko.between = meanwhile

    run = gecko.sync(account, full=True)

    assert synced_levels()["D"] == 6
    assert "D" not in [e.get("sku") for e in run.errors if e["code"] == "gone_at_erp"]
    assert run.status == SyncStatus.PARTIAL
    assert "listing_shifted" in [e["code"] for e in run.errors]


def test_a_restore_alone_between_pages_skips_nothing(account):
    """R restored with an old id past the boundary: every live variant is
    read, nothing is zeroed; the listing changed size, so nothing is
    proven gone either."""
    gecko = SoftDeletingGecko(
        [_variant(5, "R", status="archived")]
        + [_variant(n * 10, sku) for n, sku in enumerate("ABCD", start=1)]
    )
    gecko.sync(account, full=True)
    gecko.between = lambda: gecko.set_status("R", "active")

    run = gecko.sync(account, full=True)

    assert synced_levels() == {"A": 6, "B": 6, "C": 6, "D": 6, "R": 6}
    assert not [e for e in run.errors if e["code"] == "gone_at_erp"]
