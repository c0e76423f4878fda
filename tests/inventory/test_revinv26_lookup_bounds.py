"""revinv26: the SKU look-up's page bound at its edges (250 a page, 4
pages): an answer read whole is not cut, one with more listed than read
is, with or without TradeGecko's size (``X-Pagination``). Without a size
a full last page may have more after it: cut."""

import json

import pytest
import responses

from inventory.providers.tradegecko import TradeGeckoAdapter
from tests.inventory.contract import harness_tradegecko as tg

pytestmark = pytest.mark.django_db

LIMIT = 250


class Listing:
    """``count`` variants of SKU A (the last one live), 250 a page."""

    def __init__(self, count: int, sized: bool) -> None:
        self.count, self.sized, self.pages = count, sized, []

    def answer(self, request):
        page = int(request.params["page"])
        assert int(request.params["limit"]) == LIMIT
        assert request.params["order"] == "id ASC"
        self.pages.append(page)
        ids = range((page - 1) * LIMIT + 1, min(page * LIMIT, self.count) + 1)
        rows = [
            {
                "id": n,
                "sku": "A",
                "status": "active" if n == self.count else "archived",
                "locations": [{"location_id": 159, "stock_on_hand": "3"}],
            }
            for n in ids
        ]
        headers = {}
        if self.sized:
            headers["X-Pagination"] = json.dumps({"total_records": self.count})
        return 200, headers, json.dumps({"variants": rows})


@pytest.mark.parametrize("sized", [True, False], ids=["sized", "unsized"])
@pytest.mark.parametrize(("count", "pages"), [(249, 1), (250, 1), (1000, 4), (1001, 4)])
def test_the_look_up_bound_at_its_edges(count, pages, sized):
    listing = Listing(count, sized)
    adapter = TradeGeckoAdapter(tg.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, tg.VARIANTS, callback=listing.answer)
        found = adapter.item_levels("A")

    # Unsized, a full page is followed: 250 asks page 2 (empty), and 1000's
    # fourth page full may have more.
    unsized_pages = min(count // LIMIT + 1, 4)
    assert listing.pages == list(range(1, (pages if sized else unsized_pages) + 1))
    read_whole = count <= 4 * LIMIT and (sized or count < 4 * LIMIT)
    assert found.has_more is (not read_whole)
    # The live variant is the last: past the bound it is not read.
    assert bool(found.records) is (count <= 4 * LIMIT)
