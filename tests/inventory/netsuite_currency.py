"""Shared by the NetSuite purchase-order currency tests (inv42, r-inv42,
inv44): SuiteQL's currency look-up answered or refused, and draft EUR orders
sent through the service with the item look-up, the upsert PUT and its
read-back answered.

SuiteQL answers a query on a record it does not expose with a 400 in the
documented error envelope ("Error Handling in REST Web Services"), its detail
"Invalid search query. ... Search error occurred: Record 'currency' was not
found." (``INVALID_PARAMETER``)."""

import json
import re

import pytest
import responses

from integrations.errors import ProviderError
from inventory import services
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.purchase_orders import purchase_order as make_order

EUR_ID = "7"
USD_ID = "1"  # the vendor's, as in NetSuite's documented purchaseOrder
RECORD = re.compile(re.escape(f"{ns.BASE}/record/v1/purchaseOrder/eid:") + ".+")
NOT_EXPOSED = (
    "Invalid search query. Detailed unprocessed description follows. "
    "Search error occurred: Record 'currency' was not found."
)


@pytest.fixture
def one_attempt(settings):
    """Imported by each test module as an autouse fixture: one call per
    attempt, so every answer registered is the one the test reads."""
    settings.PROVIDER_MAX_ATTEMPTS = 1


def refused(detail: str, code: str = "INVALID_PARAMETER") -> dict:
    # The documented envelope (tests/fixtures/netsuite/error_invalid_content.json).
    envelope = ns.load("error_invalid_content.json")
    return {**envelope, "o:errorDetails": [{"detail": detail, "o:errorCode": code}]}


def currency_answer(rsps, *, status: int = 200, body: dict) -> None:
    rsps.post(
        ns.SUITEQL,
        status=status,
        json=body,
        match=[ns.query_contains("FROM currency")],
    )


def refused_look_up(rsps) -> None:
    """The currency look-up refused: no Multiple Currencies, or a role that
    may not read currencies (the same answer)."""
    currency_answer(rsps, status=400, body=refused(NOT_EXPOSED))


def rows(*found: dict) -> dict:
    items = [{"links": [], **row} for row in found]
    return {
        "links": [],
        "count": len(items),
        "hasMore": False,
        "items": items,
        "offset": 0,
        "totalResults": len(items),
    }


def eur_listed(rsps) -> None:
    """The currency look-up answers EUR's record, active."""
    currency_answer(rsps, body=rows({"id": EUR_ID, "symbol": "EUR", "isinactive": "F"}))


def record_in(currency: str | None) -> dict:
    """NetSuite's documented purchaseOrder, held in currency record
    ``currency`` (None: no currency field, as without Multiple Currencies)."""
    record = {**ns.load("purchase_order.json"), "id": "3581"}
    if currency is None:
        record.pop("currency")
    else:
        record["currency"] = {"links": [], "id": currency, "refName": "X"}
    return record


def account_with(settings: dict | None = None):
    account = ns.make_account()
    account.settings = {**account.settings, **(settings or {})}
    account.save()
    return account


def answer_orders(rsps, read_back: dict | None = None) -> list:
    """The item look-up, the upsert PUT (204) and its read-back answered;
    the bodies PUT, as the list returned. The order is read back in the
    currency record the last PUT set (without one: the documented record's,
    the vendor's), or as ``read_back`` says (read when asked: a test may
    change it, as staff correcting the order in NetSuite)."""
    puts: list = []
    rsps.post(
        ns.SUITEQL,
        json={"items": [{"id": "501", "itemid": "A"}], "hasMore": False},
        match=[ns.query_lacks("FROM currency")],
    )

    def put(request):
        puts.append(json.loads(request.body))
        return 204, {}, ""

    def get(request):
        if read_back is not None:
            return 200, {}, json.dumps(read_back)
        return as_put(request)

    as_put = ns.order_as_put(rsps, record_in(USD_ID))
    rsps.add_callback("PUT", RECORD, callback=put)
    rsps.add_callback("GET", RECORD, callback=get)
    return puts


def send(account, order=None):
    """A draft EUR order sent (``order``: that one sent again); the order
    read again and the error, if any (a refusal, or an answer not processed,
    is stored on the order: tests read it there)."""
    order = order or make_order(status="draft")
    try:
        services.purchase_order_send(purchase_order=order, account=account)
    except (services.InventoryError, ProviderError) as error:
        order.refresh_from_db()
        return order, error
    order.refresh_from_db()
    return order, None


def send_one(rsps, *, settings: dict | None = None) -> tuple[list, tuple]:
    """Sends a draft EUR order; returns the bodies PUT and (order, error)."""
    account = account_with(settings)
    puts = answer_orders(rsps)
    return puts, send(account)


def send_orders(rsps, count: int, account=None):
    """Sends ``count`` draft EUR orders; the bodies PUT and each order."""
    account = account or account_with()
    puts = answer_orders(rsps)
    orders = []
    for _ in range(count):
        order, _ = send(account)
        orders.append(order)
    return puts, orders


def currency_queries(rsps: responses.RequestsMock) -> int:
    return sum(1 for c in rsps.calls if b"FROM currency" in (c.request.body or b""))
