"""A currency look-up never ends as "no such currency" because it stopped
reading: a currency that exists is found however far into the answer it is,
and an answer longer than the look-up will read is an error that says so
(the order not processed), never ``unknown_currency``.

TradeGecko lists its currencies as any index (``X-Pagination``'s
``total_records``, 250 a page at most); NetSuite asks SuiteQL for the symbol
(``WHERE symbol = 'EUR'``) and reads each page while ``hasMore``, up to
SuiteQL's 100,000 results (100 pages of 1,000)."""

import json

import pytest
import responses

from inventory.providers.tradegecko import MAX_PAGE_SIZE
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.netsuite_currency import account_with, answer_orders, send
from tests.inventory.purchase_orders import purchase_order as make_order
from tests.inventory.tradegecko_currency import orders_answered
from tests.inventory.tradegecko_currency import send as tradegecko_send

pytestmark = pytest.mark.django_db

RECORDED = tg.load("currencies.json")


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _tradegecko_currencies(rsps, *, total: int, eur_on: int | None) -> list[int]:
    """Full pages of other currencies, EUR on page ``eur_on``; the pages asked."""
    asked: list[int] = []

    def answer(request):
        page = int(request.params.get("page", "1"))
        asked.append(page)
        listed = [
            {**RECORDED["body"]["currencies"][0], "id": page * 1000 + n, "iso": "XXX"}
            for n in range(MAX_PAGE_SIZE)
        ]
        if page == eur_on:
            listed[-1] = {**listed[-1], "id": 2051, "iso": "EUR"}
        pagination = json.loads(RECORDED["headers"]["X-Pagination"])
        headers = {"X-Pagination": json.dumps({**pagination, "total_records": total})}
        return 200, headers, json.dumps({"currencies": listed})

    rsps.add_callback("GET", tg.CURRENCIES, callback=answer)
    return asked


def _tradegecko_order(rsps) -> tuple[list[dict], object, Exception | None]:
    posted = orders_answered(rsps)
    order, error = tradegecko_send(make_order(status="draft"), tg.make_account())
    return posted, order, error


def test_tradegecko_finds_a_currency_past_the_fourth_page():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        asked = _tradegecko_currencies(rsps, total=6 * MAX_PAGE_SIZE, eur_on=6)
        posted, order, error = _tradegecko_order(rsps)
    assert error is None, order.last_error
    assert asked == [1, 2, 3, 4, 5, 6]
    assert posted[0]["currency_id"] == 2051


def test_tradegecko_a_listing_longer_than_it_reads_is_no_unknown_currency():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        asked = _tradegecko_currencies(rsps, total=10**7, eur_on=None)
        posted, order, error = _tradegecko_order(rsps)
    assert posted == [] and error is not None
    assert order.last_error.startswith("currency_lookup_cut: "), order.last_error
    assert len(asked) <= 100  # bounded: not millions of requests


def _suiteql_currency_pages(rsps, *, pages: int | None, eur_on: int) -> list[int]:
    """SuiteQL's currency query answering page after page (``hasMore`` until
    ``pages``; None: for ever), EUR on page ``eur_on``; the offsets asked."""
    offsets: list[int] = []

    def answer(request):
        offset = int(request.params.get("offset", "0"))
        offsets.append(offset)
        page = len(offsets)
        # A guard against a look-up that never ends: the test fails, not hangs.
        assert page <= 1000, "the look-up does not stop"
        row = {"links": [], "id": str(page * 10), "symbol": "XXX", "isinactive": "F"}
        if page == eur_on:
            row = {**row, "id": "7", "symbol": "EUR"}
        items = [row]
        more = pages is None or page < pages
        return 200, {}, json.dumps({"items": items, "hasMore": more, "offset": offset})

    rsps.add_callback(
        "POST", ns.SUITEQL, callback=answer, match=[ns.query_contains("FROM currency")]
    )
    return offsets


def test_netsuite_finds_a_currency_on_a_late_page_of_its_answer():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        offsets = _suiteql_currency_pages(rsps, pages=6, eur_on=6)
        puts = answer_orders(rsps)
        order, error = send(account_with())
    assert error is None, order.last_error
    assert len(offsets) == 6
    assert puts[0]["currency"] == {"id": "7"}


def test_netsuite_an_answer_that_never_ends_is_no_unknown_currency():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        offsets = _suiteql_currency_pages(rsps, pages=None, eur_on=0)
        puts = answer_orders(rsps)
        order, error = send(account_with())
    assert puts == [] and error is not None
    assert not order.last_error.startswith("unknown_currency"), order.last_error
    assert order.last_error.startswith("malformed_response: "), order.last_error
    assert len(offsets) <= 100
