"""SuiteQL pages are asked by page, not by rows read.

NetSuite pages a result by ``limit`` and ``offset``: Oracle's Collection
Paging (section_156414087576) shows each ``next`` link at the following
multiple of the limit, and public clients report an offset that is not a
multiple of the limit refused. A page may come back short and still say
``hasMore`` (rows the role may not see are left out of it): the next page is
the following multiple, so no row is skipped or read twice, up to SuiteQL's
100,000-result cap (100 pages of 1,000)."""

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from integrations.errors import NotProcessed
from inventory.providers.netsuite import NetSuiteAdapter
from tests.inventory.contract import harness_netsuite as ns

pytestmark = pytest.mark.django_db

LIMIT = 1000


def _error(detail: str):
    body = {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [{"detail": detail, "o:errorCode": "INVALID_PARAMETER"}],
    }
    return 400, {"Content-Type": "application/json"}, json.dumps(body)


class Pages:
    """SuiteQL answering ``pages`` (offset: (rows, hasMore)); an offset that
    is not a multiple of the limit is refused, as NetSuite does."""

    def __init__(self, rsps, pages: dict[int, tuple[list[dict], bool]]):
        self.pages = pages
        self.offsets: list[int] = []
        rsps.add_callback("POST", ns.SUITEQL, callback=self.answer)

    def answer(self, request):
        params = dict(parse_qsl(urlsplit(request.url).query))
        offset, limit = int(params["offset"]), int(params["limit"])
        self.offsets.append(offset)
        if limit != LIMIT or offset % limit:
            return _error("The offset must be a multiple of the limit.")
        rows, more = self.pages.get(offset, ([], False))
        page = {"links": [], "count": len(rows), "hasMore": more, "offset": offset}
        return 200, {}, json.dumps({**page, "items": rows, "totalResults": 1400})


def _adapter() -> NetSuiteAdapter:
    account = ns.make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    return NetSuiteAdapter(account)


def test_after_a_short_page_saying_more_the_next_page_is_the_next_multiple():
    skus = [f"S-{n:04}" for n in range(1000)]
    rows = [
        {"links": [], "id": str(n + 1), "itemid": sku} for n, sku in enumerate(skus)
    ]
    with responses.RequestsMock() as rsps:
        fake = Pages(rsps, {0: (rows[:600], True), LIMIT: (rows[600:], False)})
        found = _adapter().item_ids(skus)
    assert fake.offsets == [0, LIMIT]
    assert found == {sku: str(n + 1) for n, sku in enumerate(skus)}


def test_an_empty_page_saying_more_is_followed():
    # Every row of its page left out: the rows after it are still read.
    rows = [{"links": [], "id": "9", "itemid": "S-0"}]
    with responses.RequestsMock() as rsps:
        fake = Pages(rsps, {0: ([], True), LIMIT: (rows, False)})
        found = _adapter().item_ids(["S-0"])
    assert fake.offsets == [0, LIMIT] and found == {"S-0": "9"}


def test_pages_saying_more_past_the_cap_are_not_an_answer():
    row = {"links": [], "id": "1", "itemid": "S-0"}
    pages = {number * LIMIT: ([row], True) for number in range(101)}
    with responses.RequestsMock() as rsps:
        fake = Pages(rsps, pages)
        with pytest.raises(NotProcessed) as caught:
            _adapter().item_ids(["S-0"])
    assert caught.value.code == "malformed_response"
    assert fake.offsets == [number * LIMIT for number in range(100)]
