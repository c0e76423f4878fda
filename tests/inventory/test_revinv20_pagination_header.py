"""Where TradeGecko puts a listing's size: every collection answer carries
it in the ``X-Pagination`` header (``total_records``; the gecko client's
recordings, every ``*_count``/listing cassette, and its ``count`` reads
only that header). The body's ``meta`` is on a few endpoints only, "for
historical reasons and should not be relied on" (TradeGecko's API docs,
"Response Metadata"). The adapter read ``meta.total`` alone: a listing
answered with the header only had no size (the run's size check and the
short-cut of a fallen total off, one request more at the end)."""

import json

import pytest
import responses

from inventory.providers.base import LevelsQuery
from inventory.providers.tradegecko import TradeGeckoAdapter
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import gecko_variant

pytestmark = pytest.mark.django_db


def _pagination(total: int, limit: int, page: int) -> str:
    pages = -(-total // limit)
    return json.dumps(
        {
            "total_records": total,
            "total_pages": pages,
            "first_page": page == 1,
            "last_page": page >= pages,
            "out_of_bounds": page > pages,
            "offset": (page - 1) * limit,
        }
    )


def _page(rsps, rows: list[dict], *, total: int, page: int, meta: int | None = None):
    body: dict = {"variants": rows}
    if meta is not None:
        body["meta"] = {"total": meta}
    rsps.get(
        tg.VARIANTS,
        json=body,
        headers={"X-Pagination": _pagination(total, 2, page)},
    )


def test_the_size_is_read_from_the_pagination_header():
    adapter = TradeGeckoAdapter(tg.make_account())
    rows = [gecko_variant(4, "D", 6), gecko_variant(3, "C", 6)]
    with responses.RequestsMock() as rsps:
        _page(rsps, rows, total=4, page=1)
        first = adapter.levels(LevelsQuery(limit=2))
        _page(
            rsps, [gecko_variant(2, "B", 6), gecko_variant(1, "A", 6)], total=4, page=2
        )
        second = adapter.levels(LevelsQuery(limit=2, cursor=first.next_cursor))
        asked = len(rsps.calls)

    assert first.total == 4 and first.has_more
    # The last page is known to be the last: no empty page 3 asked.
    assert second.total == 4 and not second.has_more
    assert asked == 3  # page 1, page 2 and the place before page 2


def test_a_fallen_header_total_marks_the_page_shifted():
    adapter = TradeGeckoAdapter(tg.make_account())
    with responses.RequestsMock() as rsps:
        _page(
            rsps, [gecko_variant(6, "F", 6), gecko_variant(5, "E", 6)], total=6, page=1
        )
        first = adapter.levels(LevelsQuery(limit=2))
        _page(
            rsps, [gecko_variant(3, "C", 6), gecko_variant(2, "B", 6)], total=5, page=2
        )
        # The look-up of places 1 and 2 (inv24: a fall is looked up too): E,
        # page 1's last, is gone and D sits before C, unread.
        rsps.get(
            tg.VARIANTS,
            json={
                "variants": [
                    gecko_variant(n, s, 6) for n, s in ((6, "F"), (4, "D"), (3, "C"))
                ]
            },
            headers={"X-Pagination": _pagination(5, 3, 1)},
            match=[
                responses.matchers.query_param_matcher(
                    {"limit": "3", "page": "1"}, strict_match=False
                )
            ],
        )
        second = adapter.levels(LevelsQuery(limit=2, cursor=first.next_cursor))
        asked = len(rsps.calls)

    assert second.total == 5
    assert second.shifted and asked == 3


def test_the_header_wins_over_a_stale_meta_and_meta_stays_a_fallback():
    adapter = TradeGeckoAdapter(tg.make_account())
    rows = [gecko_variant(4, "D", 6), gecko_variant(3, "C", 6)]
    with responses.RequestsMock() as rsps:
        _page(rsps, rows, total=4, page=1, meta=9)
        headed = adapter.levels(LevelsQuery(limit=2))
        rsps.get(tg.VARIANTS, json={"variants": rows, "meta": {"total": 4}})
        bodied = adapter.levels(LevelsQuery(limit=2))
        rsps.get(
            tg.VARIANTS,
            json={"variants": rows, "meta": {"total": 4}},
            headers={"X-Pagination": "not json"},
        )
        broken = adapter.levels(LevelsQuery(limit=2))

    assert (headed.total, bodied.total, broken.total) == (4, 4, 4)
