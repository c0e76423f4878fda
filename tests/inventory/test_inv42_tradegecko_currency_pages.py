"""TradeGecko's currencies index is paged as any index: its size is
``X-Pagination``'s ``total_records`` (the recorded answer sends it), read as
the variant listing reads it (``listing_total``/``has_more``). A short page
is not the end while the total says more; a full page that the total says is
the last is."""

import json

import pytest
import responses

from inventory import services
from inventory.providers.tradegecko import MAX_PAGE_SIZE
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order as _order
from tests.inventory.tradegecko_currency import orders_answered

pytestmark = pytest.mark.django_db

RECORDED = tg.load("currencies.json")


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _pages(rsps, pages: dict[int, list[dict]], total: int) -> list[int]:
    """``GET /currencies`` answering ``pages`` with the recorded headers, its
    ``total_records`` set to ``total``; returns the pages asked."""
    asked: list[int] = []

    def answer(request):
        page = int(request.params.get("page", "1"))
        asked.append(page)
        pagination = json.loads(RECORDED["headers"]["X-Pagination"])
        headers = {"X-Pagination": json.dumps({**pagination, "total_records": total})}
        return 200, headers, json.dumps({"currencies": pages.get(page, [])})

    rsps.add_callback("GET", tg.CURRENCIES, callback=answer)
    return asked


def _currency(number: int, iso: str) -> dict:
    return {**RECORDED["body"]["currencies"][0], "id": number, "iso": iso}


def _place_order(rsps) -> list[dict]:
    posted = orders_answered(rsps)
    services.purchase_order_send(
        purchase_order=_order(status="draft"), account=tg.make_account()
    )
    return posted


def test_a_short_page_is_not_the_end_while_the_total_says_more():
    # TradeGecko answered fewer than asked (its own cap), 300 listed in all.
    first = [_currency(100 + n, f"X{n:02d}") for n in range(5)]
    with responses.RequestsMock() as rsps:
        asked = _pages(rsps, {1: first, 2: [_currency(2051, "EUR")]}, total=300)
        posted = _place_order(rsps)
    assert asked == [1, 2]
    assert posted[0]["currency_id"] == 2051


def test_a_full_page_the_total_says_is_the_last_ends_the_look_up():
    full = [_currency(100 + n, f"Y{n:03d}") for n in range(MAX_PAGE_SIZE)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        asked = _pages(rsps, {1: full}, total=len(full))
        rsps.add("GET", tg.VARIANTS, json={"variants": [{"id": 7, "sku": "A"}]})
        with pytest.raises(services.InventoryError):
            _place_order(rsps)
    assert asked == [1]  # no page 2 asked past the listing's end
