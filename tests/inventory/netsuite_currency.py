"""Shared by the NetSuite purchase-order currency tests (inv42, r-inv42,
inv44, inv45, inv46, r-inv46): SuiteQL's currency look-up answered or refused, draft
EUR orders sent through the service with the item look-up, the upsert PUT and
its read-back answered, and a NetSuite keeping its orders by external id.

SuiteQL answers a query on a record it does not expose with a 400 in the
documented error envelope ("Error Handling in REST Web Services"), its detail
"Invalid search query. ... Search error occurred: Record 'currency' was not
found." (``INVALID_PARAMETER``)."""

import json
import re

import pytest
import requests
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


def sent_held_in(rsps, currency: str, account) -> tuple[dict, list, tuple]:
    """EUR listed, and a draft EUR order sent at ``account`` to a NetSuite
    whose read-back holds it in currency record ``currency``: that record
    (a test may change it, as staff would in NetSuite), the bodies PUT, and
    (order, error)."""
    eur_listed(rsps)
    held = record_in(currency)
    puts = answer_orders(rsps, read_back=held)
    return held, puts, send(account)


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


# NetSuite's refusal of a field the role may not set ("Error Handling in REST
# Web Services"), as a PUT carrying the order's currency gets it.
NOT_SETTABLE = (
    "Error while accessing a resource. You do not have permissions to set a "
    "value for element currency due to one of the following reasons: 1) The "
    "field is read-only; 2) An associated feature is disabled; 3) The field is "
    "available either when a record is created or updated, but not in both cases."
)


def field_refusal(detail: str = NOT_SETTABLE, path: str | None = "currency") -> dict:
    """A PUT refused for a field, ``o:errorPath`` naming it (None: no path)."""
    body = refused(detail, code="INVALID_FLD_VALUE")
    if path is not None:
        body["o:errorDetails"][0]["o:errorPath"] = path
    return body


def multiple_currencies_on(rsps) -> None:
    """Multiple Currencies turned on (or the Currency permission granted):
    the look-up answers EUR's record from now on."""
    rsps.replace(
        responses.POST,
        ns.SUITEQL,
        json=rows({"id": EUR_ID, "symbol": "EUR", "isinactive": "F"}),
        match=[ns.query_contains("FROM currency")],
    )


def mismatch(order, shown: str) -> None:
    """``order`` refused for staff, NetSuite holding it in record ``shown``."""
    assert order.status not in ("sent", "confirmed")
    assert order.last_error.startswith("currency_mismatch: "), order.last_error
    assert f"currency record {shown}" in order.last_error


class NetSuite:
    """The item look-up, PUTs and read-backs of NetSuite's orders by external
    id (none yet: 404). A PUT carrying the currency field is refused with
    ``refuse`` (a body, or None). An order is created in the currency sent,
    else in ``booked`` (None: a record without currency, as an account
    without Multiple Currencies has); an update sets it alike unless
    ``keeps_currency`` (NetSuite leaving the order's currency as it was).
    ``lose``: the currency id (or "none") of the next PUT applied whose
    answer is then lost (a read timeout)."""

    def __init__(self, rsps, refuse=None, booked=None, keeps_currency=False):
        self.puts: list[tuple[str, dict]] = []
        self.held: dict[str, str | None] = {}
        self.refuse, self.booked = refuse, booked
        self.keeps_currency = keeps_currency
        self.lose: str | None = None
        rsps.post(
            ns.SUITEQL,
            json={"items": [{"id": "501", "itemid": "A"}], "hasMore": False},
            match=[ns.query_lacks("FROM currency")],
        )
        rsps.add_callback("PUT", RECORD, callback=self.put)
        rsps.add_callback("GET", RECORD, callback=self.get)

    def put(self, request):
        body = json.loads(request.body)
        self.puts.append((request.url, body))
        if "currency" in body and self.refuse is not None:
            return 400, {}, json.dumps(self.refuse)
        sent = (body.get("currency") or {}).get("id")
        key = request.url.split("?")[0]
        if key not in self.held or not self.keeps_currency:
            self.held[key] = sent or self.booked
        if self.lose == (sent or "none"):
            self.lose = None
            raise requests.exceptions.ReadTimeout("read timed out")
        return 204, {}, ""

    def get(self, request):
        key = request.url.split("?")[0]
        if key not in self.held:
            return 404, {}, json.dumps(ns.load("error_not_found.json"))
        return 200, {}, json.dumps(record_in(self.held[key]))

    def bodies(self) -> list[dict]:
        return [body for _, body in self.puts]

    def currencies(self) -> list:
        return [(body.get("currency") or {}).get("id") for body in self.bodies()]
