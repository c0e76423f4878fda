"""Contract harness for TradeGecko: ``responses`` answers taken from the gecko
Ruby client's recorded exchanges (tests/fixtures/tradegecko/README.md)."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
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
from tests.inventory.contract.harness import InventoryWebhook, LevelsPaging

PROVIDER = "tradegecko"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tradegecko"
BASE = "https://api.tradegecko.com"
VARIANTS = f"{BASE}/variants"
APP_SECRET = "contract-tradegecko-app-secret"
NOT_APPLICABLE = {
    "reserve_release": "TradeGecko has no hold resource; stock is committed by "
    "its own sales orders",
    "webhook_stale": "TradeGecko signs no delivery time and retries the same "
    "signed body for up to three days; replays are stopped by X-Gecko-Delivery",
}


def load(name: str) -> dict:
    """A fixture: ``{"status", "headers", "body"}``."""
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="inventory",
        provider=PROVIDER,
        settings={"backoff_base_seconds": 0.001},
        credentials={"access_token": "contract-token", "app_secret": APP_SECRET},
    )


def answer(rsps, method: str, url: str, name: str, **kwargs) -> None:
    fixture = load(name)
    rsps.add(
        method,
        url,
        status=fixture["status"],
        headers=fixture["headers"],
        json=fixture["body"],
        **kwargs,
    )


def expected_levels(*names: str) -> tuple[StockLevelRecord, ...]:
    """Every (SKU, location, on hand) the fixtures' variants hold, read here
    without the adapter."""
    records = []
    for name in names:
        for variant in load(name)["body"]["variants"]:
            for row in variant["locations"]:
                on_hand = int(Decimal(row["stock_on_hand"]))
                records.append(
                    StockLevelRecord(variant["sku"], str(row["location_id"]), on_hand)
                )
    return tuple(records)


# The listing is asked in id order (its default order is by no key): a full
# one descending (a creation meanwhile joins before every page).
ORDER = {"order": "id ASC"}
FULL_ORDER = {"order": "id DESC"}
# A look-up by SKU: the largest page (default 50), its pages followed in id
# order (smaug: "Pagination", the variant's filter ``sku``).
SKU_LOOKUP = {"limit": "250", "page": "1", "order": "id ASC"}


def _pages(rsps, extra: dict | None = None, order: dict = ORDER) -> None:
    for page, name in ((1, "variants_first_page.json"), (2, "variants_last_page.json")):
        params = {"limit": "5", "page": str(page), **order, **(extra or {})}
        answer(
            rsps, "GET", VARIANTS, name, match=[matchers.query_param_matcher(params)]
        )
    # The place before page 2 and its first place, in one answer (places 4
    # and 5: limit=2, page 3, as TradeGecko pages by number): page 1's last
    # variant followed by page 2's first; the adapter checks page 1 still
    # ends there (the recorded pages are in no id order: the totals prove
    # nothing).
    first = load("variants_first_page.json")["body"]
    last = load("variants_last_page.json")["body"]
    rsps.get(
        VARIANTS,
        json={
            "variants": [first["variants"][-1], last["variants"][0]],
            "meta": first["meta"],
        },
        match=[
            matchers.query_param_matcher(
                {"limit": "2", "page": "3", **order, **(extra or {})}
            )
        ],
    )


def levels_paging(rsps, account) -> LevelsPaging:
    _pages(rsps, order=FULL_ORDER)
    expected = expected_levels("variants_first_page.json", "variants_last_page.json")
    return LevelsPaging(query=LevelsQuery(limit=5), expected=expected)


def levels_since(rsps, account) -> LevelsPaging:
    since = datetime(2014, 2, 1, tzinfo=UTC)
    _pages(rsps, {"updated_at_min": "2014-02-01T00:00:00+00:00"})
    expected = expected_levels("variants_first_page.json", "variants_last_page.json")
    return LevelsPaging(query=LevelsQuery(since=since, limit=5), expected=expected)


def po_create_idempotent(rsps, account) -> PurchaseOrderRequest:
    variant = load("variants_first_page.json")["body"]["variants"][3]
    currencies(rsps)
    rsps.get(
        VARIANTS,
        json={"variants": [variant]},
        match=[matchers.query_param_matcher({"sku": variant["sku"], **SKU_LOOKUP})],
    )
    created = load("purchase_order_created.json")
    rsps.post(
        f"{BASE}/purchase_orders",
        status=201,
        json=created["body"],
        match=[matchers.header_matcher({"Idempotency-Key": "po-PO0435"})],
    )
    order_id = created["body"]["purchase_order"]["id"]
    rsps.get(
        f"{BASE}/purchase_orders/{order_id}",
        json={"purchase_order": created["body"]["purchase_order"]},
    )
    return PurchaseOrderRequest(
        external_id="PO0435",
        supplier_code="633468",
        location_code="159",
        currency="SGD",
        lines=(PurchaseOrderLine(variant["sku"], 10, 2000),),
        memo="webinar",
    )


def po_not_found(rsps, account) -> str:
    rsps.get(
        f"{BASE}/purchase_orders/999999", status=404, json={"message": "Not Found"}
    )
    return "999999"


def unauthorized_401(rsps, account) -> LevelsQuery:
    rsps.get(VARIANTS, status=401, json={"error": "invalid_token"})
    return LevelsQuery()


def rate_limited_429(rsps, account) -> LevelsQuery:
    # TradeGecko sends X-Rate-Limit-Reset (epoch seconds), not Retry-After.
    reset = str(int(time.time()) + 30)
    headers = {"X-Rate-Limit-Limit": "300", "X-Rate-Limit-Remaining": "0"}
    rsps.get(VARIANTS, status=429, headers={**headers, "X-Rate-Limit-Reset": reset})
    return LevelsQuery()


def server_error_500(rsps, account) -> LevelsQuery:
    rsps.get(VARIANTS, status=500, body="Internal Server Error")
    return LevelsQuery()


def read_timeout(rsps, account) -> LevelsQuery:
    rsps.get(VARIANTS, body=requests.ReadTimeout("read timed out"))
    return LevelsQuery()


def connection_refused(rsps, account) -> LevelsQuery:
    refused = NewConnectionError(None, "[Errno 111] Connection refused")
    error = requests.ConnectionError(MaxRetryError(None, VARIANTS, reason=refused))
    rsps.get(VARIANTS, body=error)
    return LevelsQuery()


def malformed_json(rsps, account) -> LevelsQuery:
    rsps.get(VARIANTS, body='{"variants": [', content_type="application/json")
    return LevelsQuery()


def signed(body: bytes, secret: str = APP_SECRET) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _webhook(secret: str = APP_SECRET) -> InventoryWebhook:
    variant = load("variant.json")["body"]["variant"]
    body = json.dumps(
        {
            "object_id": variant["id"],
            "event": "variant.update",
            "timestamp": int(time.time()),
            "resource_url": f"{BASE}/variants/{variant['id']}.json",
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Gecko-Delivery": "b3c1a5e2-7f34-4f59-9d2a-2f0c1d6e8a11",
        "X-Gecko-Signature": signed(body, secret),
    }
    levels = tuple(
        StockLevelRecord(
            variant["sku"], str(row["location_id"]), int(Decimal(row["stock_on_hand"]))
        )
        for row in variant["locations"]
    )
    return InventoryWebhook(
        body=body, headers=headers, event_type="variant.update", levels=levels
    )


def webhook_valid(rsps, account) -> InventoryWebhook:
    hook = _webhook()
    variant = load("variant.json")["body"]["variant"]
    answer(rsps, "GET", f"{VARIANTS}/{variant['id']}", "variant.json")
    return hook


def webhook_forged(rsps, account) -> InventoryWebhook:
    return _webhook(secret="not-the-app-secret")


CURRENCIES = f"{BASE}/currencies"
# EUR and USD in the recording's shape (it lists neither); SGD is id 4, the
# currency_id of the recorded purchase orders.
CURRENCY_IDS = {"SGD": 4, "EUR": 2051, "USD": 2052}


def currencies(rsps, listed: dict[str, int] | None = None) -> None:
    """``GET /currencies`` (a purchase order's ``currency_id`` is looked up
    there): the recorded list, plus ``listed`` (EUR and USD by default)."""
    body = load("currencies.json")["body"]
    extra = CURRENCY_IDS if listed is None else listed
    recorded = {c["iso"] for c in body["currencies"]}
    body["currencies"] += [
        {"id": number, "iso": iso, "name": iso, "rate": "1.0", "precision": 2}
        for iso, number in extra.items()
        if iso not in recorded
    ]
    rsps.get(CURRENCIES, json=body)
