"""Contract harness for NetSuite (SuiteTalk REST): ``responses`` answers built
from Oracle's documented SuiteQL, record API and error shapes
(tests/fixtures/netsuite/README.md names the page each follows)."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import requests
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations.models import ProviderAccount
from inventory.providers.base import (
    LevelsQuery,
    PurchaseOrderLine,
    PurchaseOrderRequest,
    StockLevelRecord,
)
from tests.factories import ProviderAccountFactory
from tests.inventory.contract.harness import LevelsPaging

PROVIDER = "netsuite"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "netsuite"
BASE = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest"
SUITEQL = f"{BASE}/query/v1/suiteql"
PO_EXTERNAL_ID = "PO-20261204-0001"
PO_INTERNAL_ID = "3581"
_NO_WEBHOOKS = (
    "NetSuite sends no webhooks of its own (SuiteTalk REST has none; stock "
    "follows by SuiteQL sync)"
)
NOT_APPLICABLE = {
    "reserve_release": "SuiteTalk REST has no hold resource for another system's "
    "reservations; the shop keeps its own",
    "webhook_valid": _NO_WEBHOOKS,
    "webhook_forged": _NO_WEBHOOKS,
    "webhook_stale": _NO_WEBHOOKS,
    "webhook_duplicate": _NO_WEBHOOKS,
}
CREDENTIALS = {
    "consumer_key": "contract-consumer-key",
    "consumer_secret": "contract-consumer-secret",
    "token_id": "contract-token-id",
    "token_secret": "contract-token-secret",
}
EXPECTED = (
    StockLevelRecord("WIDGET-RED", "1", 42, datetime(2026, 12, 1, 8, 15, tzinfo=UTC)),
    StockLevelRecord("WIDGET-RED", "2", 7, datetime(2026, 12, 1, 8, 15, tzinfo=UTC)),
    StockLevelRecord(
        "WIDGET-BLUE", "1", 0, datetime(2026, 12, 2, 17, 40, 12, tzinfo=UTC)
    ),
)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="inventory",
        provider=PROVIDER,
        settings={"account_id": "1234567_SB1", "backoff_base_seconds": 0.001},
        credentials=dict(CREDENTIALS),
    )


def query_contains(text: str):
    """A matcher: the SuiteQL request's ``q`` contains ``text``."""

    def match(request: requests.PreparedRequest) -> tuple[bool, str]:
        query = json.loads(request.body or b"{}").get("q", "")
        return text in query, f"q does not contain {text!r}"

    return match


def query_lacks(text: str):
    """A matcher: the SuiteQL request's ``q`` does not contain ``text``."""

    def match(request: requests.PreparedRequest) -> tuple[bool, str]:
        query = json.loads(request.body or b"{}").get("q", "")
        return text not in query, f"q contains {text!r}"

    return match


# The second page is asked by key (the first page's last row), not by offset:
# an offset cannot pass SuiteQL's 100,000-result cap.
AFTER_FIRST_PAGE = "(iil.item > 501 OR (iil.item = 501 AND iil.location > 2))"


def pages(rsps, *, limit: int, extra: list | None = None) -> None:
    for keyed, name in (
        (query_lacks("iil.item >"), "suiteql_levels_page1.json"),
        (query_contains(AFTER_FIRST_PAGE), "suiteql_levels_page2.json"),
    ):
        params = {"limit": str(limit), "offset": "0"}
        rsps.post(
            SUITEQL,
            json=load(name),
            match=[
                matchers.query_param_matcher(params),
                matchers.header_matcher({"Prefer": "transient"}),
                keyed,
                *(extra or []),
            ],
        )


def levels_paging(rsps, account) -> LevelsPaging:
    pages(rsps, limit=2)
    return LevelsPaging(query=LevelsQuery(limit=2), expected=EXPECTED)


def levels_since(rsps, account) -> LevelsPaging:
    since = datetime(2026, 12, 1, tzinfo=UTC)
    stamp = "TO_TIMESTAMP('2026-12-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS')"
    pages(rsps, limit=2, extra=[query_contains(f"lastmodifieddate >= {stamp}")])
    return LevelsPaging(query=LevelsQuery(since=since, limit=2), expected=EXPECTED)


# Currency records by ISO code (their symbol): internal ids as a fresh account
# numbers them.
CURRENCY_IDS = {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4", "JPY": "5", "KWD": "6"}


def currencies(rsps, listed: dict[str, str] | None = None) -> None:
    """SuiteQL's answer to the currency look-up (its query names the
    symbol): the record of the code asked when ``listed`` has it."""
    table = CURRENCY_IDS if listed is None else listed

    def answer(request: requests.PreparedRequest):
        query = json.loads(request.body or b"{}").get("q", "")
        rows = [
            {"links": [], "id": number, "symbol": symbol}
            for symbol, number in table.items()
            if f"symbol = '{symbol}'" in query
        ]
        page = {"items": rows, "count": len(rows), "hasMore": False, "offset": 0}
        return 200, {}, json.dumps({**page, "totalResults": len(rows)})

    rsps.add_callback(
        "POST", SUITEQL, callback=answer, match=[query_contains("FROM currency")]
    )


def order_as_put(rsps, record: dict | None = None):
    """A GET callback answering ``record`` (NetSuite's documented
    purchaseOrder) held in the currency record the last PUT set, as NetSuite
    holds an order it created from that PUT; a PUT without one leaves the
    record's own (the vendor's)."""
    held = record or load("purchase_order.json")

    def answer(request: requests.PreparedRequest):
        puts = [c.request for c in rsps.calls if c.request.method == "PUT"]
        sent = json.loads(puts[-1].body or b"{}").get("currency") if puts else None
        body = copy.deepcopy(held)
        if sent:
            body["currency"] = {**body.get("currency", {}), "id": sent["id"]}
        return 200, {}, json.dumps(body)

    return answer


def po_create_idempotent(rsps, account) -> PurchaseOrderRequest:
    currencies(rsps)
    rsps.post(
        SUITEQL,
        json=load("suiteql_items.json"),
        match=[query_lacks("FROM currency")],
    )
    record = f"{BASE}/record/v1/purchaseOrder"
    rsps.put(
        f"{record}/eid:{PO_EXTERNAL_ID}",
        status=204,
        headers={"Location": f"{record}/{PO_INTERNAL_ID}"},
    )
    rsps.add_callback("GET", f"{record}/eid:{PO_EXTERNAL_ID}", order_as_put(rsps))
    rsps.get(f"{record}/{PO_INTERNAL_ID}", json=load("purchase_order.json"))
    return PurchaseOrderRequest(
        external_id=PO_EXTERNAL_ID,
        supplier_code="77",
        location_code="1",
        currency="USD",
        lines=(
            PurchaseOrderLine("WIDGET-RED", 10, 1250),
            PurchaseOrderLine("WIDGET-BLUE", 5, 1250),
        ),
        memo="Reorder from Switchyard",
    )


def po_not_found(rsps, account) -> str:
    rsps.get(
        f"{BASE}/record/v1/purchaseOrder/999999",
        status=404,
        json=load("error_not_found.json"),
    )
    return "999999"


def unauthorized_401(rsps, account) -> LevelsQuery:
    rsps.post(SUITEQL, status=401, json=load("error_invalid_login.json"))
    return LevelsQuery()


def rate_limited_429(rsps, account) -> LevelsQuery:
    # NetSuite's 429 carries no Retry-After; the adapter supplies one.
    rsps.post(SUITEQL, status=429, json=load("error_too_many_requests.json"))
    return LevelsQuery()


def server_error_500(rsps, account) -> LevelsQuery:
    rsps.post(SUITEQL, status=500, body="Internal Server Error")
    return LevelsQuery()


def read_timeout(rsps, account) -> LevelsQuery:
    rsps.post(SUITEQL, body=requests.ReadTimeout("read timed out"))
    return LevelsQuery()


def connection_refused(rsps, account) -> LevelsQuery:
    refused = NewConnectionError(None, "[Errno 111] Connection refused")
    rsps.post(
        SUITEQL,
        body=requests.ConnectionError(MaxRetryError(None, SUITEQL, reason=refused)),
    )
    return LevelsQuery()


def malformed_json(rsps, account) -> LevelsQuery:
    rsps.post(SUITEQL, body="<html>maintenance</html>", content_type="text/html")
    return LevelsQuery()
