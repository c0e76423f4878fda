"""Contract harness for the generic HTTP stock service: ``responses`` answers
shaped as its spec says (docs/providers/inventory.md; examples in
tests/fixtures/http_stock/), Standard Webhooks signed with the account's
secret."""

import json
import time
from datetime import datetime
from pathlib import Path

import requests
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations.models import ProviderAccount
from integrations.webhooks.verification import signed_headers
from inventory.providers.base import (
    LevelsQuery,
    ReservationLine,
    ReserveRequest,
    StockLevelRecord,
)
from tests.contract.sandbox import OTHER_SECRET, SECRET
from tests.factories import ProviderAccountFactory
from tests.inventory.contract.harness import InventoryWebhook, LevelsPaging

PROVIDER = "http_stock"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "http_stock"
BASE = "https://stock.shop.example/api"
LEVELS = f"{BASE}/levels"
_NO_PURCHASE_ORDERS = "the generic stock service spec has no purchase orders"
NOT_APPLICABLE = {
    "levels_since": "the spec answers named SKUs only; it has no last-modified filter",
    "po_create_idempotent": _NO_PURCHASE_ORDERS,
    "po_not_found": _NO_PURCHASE_ORDERS,
}
SKUS = tuple(f"SKU-{n:03d}" for n in range(60))


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="inventory",
        provider=PROVIDER,
        settings={"backoff_base_seconds": 0.001},
        credentials={
            "base_url": BASE,
            "api_key": "contract-stock-key",
            "webhook_secret": SECRET,
        },
    )


def level(sku: str, on_hand: int) -> dict:
    """One entry shaped as levels.json's."""
    entry = dict(load("levels.json")["levels"][0])
    entry.update(sku=sku, on_hand=on_hand)
    return entry


def record(entry: dict) -> StockLevelRecord:
    when = datetime.fromisoformat(entry["modified_at"].replace("Z", "+00:00"))
    return StockLevelRecord(entry["sku"], entry["location"], entry["on_hand"], when)


def levels_paging(rsps, account) -> LevelsPaging:
    expected = []
    for batch in (SKUS[:50], SKUS[50:]):
        entries = [level(sku, n) for n, sku in enumerate(batch)]
        expected.extend(record(e) for e in entries)
        rsps.get(
            LEVELS,
            json={"levels": entries},
            match=[matchers.query_param_matcher({"sku": list(batch)})],
        )
    return LevelsPaging(
        query=LevelsQuery(skus=SKUS, limit=100), expected=tuple(expected)
    )


def reserve_release(rsps, account) -> ReserveRequest:
    held = load("reservation.json")
    rsps.post(
        f"{BASE}/reservations",
        status=201,
        json=held,
        match=[matchers.header_matcher({"Idempotency-Key": "contract-hold-1"})],
    )
    rsps.post(
        f"{BASE}/reservations/{held['reference']}/release",
        json=load("reservation_released.json"),
    )
    line = held["lines"][0]
    return ReserveRequest(
        reference=held["reference"],
        lines=(ReservationLine(line["sku"], line["location"], line["quantity"]),),
        idempotency_key="contract-hold-1",
    )


def _first_page(rsps, **answer) -> LevelsQuery:
    rsps.get(LEVELS, **answer)
    return LevelsQuery(skus=("WIDGET-RED",))


def unauthorized_401(rsps, account) -> LevelsQuery:
    body = {"error": {"code": "unauthorized", "message": "bad key"}}
    return _first_page(rsps, status=401, json=body)


def rate_limited_429(rsps, account) -> LevelsQuery:
    return _first_page(rsps, status=429, headers={"Retry-After": "2"})


def server_error_500(rsps, account) -> LevelsQuery:
    return _first_page(rsps, status=500, body="Internal Server Error")


def read_timeout(rsps, account) -> LevelsQuery:
    return _first_page(rsps, body=requests.ReadTimeout("read timed out"))


def connection_refused(rsps, account) -> LevelsQuery:
    refused = NewConnectionError(None, "[Errno 111] Connection refused")
    error = requests.ConnectionError(MaxRetryError(None, LEVELS, reason=refused))
    return _first_page(rsps, body=error)


def malformed_json(rsps, account) -> LevelsQuery:
    return _first_page(rsps, body='{"levels": [', content_type="application/json")


def _webhook(*, secret: str = SECRET, age: int = 0) -> InventoryWebhook:
    payload = load("inventory_updated.json")
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        **signed_headers(
            secret=secret,
            webhook_id="msg_2d7bq0RVnXwAzjVaDNqgKdfxKZk",
            body=body,
            timestamp=int(time.time()) - age,
        ),
    }
    levels = tuple(record(entry) for entry in payload["data"]["levels"])
    return InventoryWebhook(
        body=body, headers=headers, event_type="inventory.updated", levels=levels
    )


def webhook_valid(rsps, account) -> InventoryWebhook:
    return _webhook()


def webhook_forged(rsps, account) -> InventoryWebhook:
    return _webhook(secret=OTHER_SECRET)


def webhook_stale(rsps, account) -> InventoryWebhook:
    return _webhook(age=3600)
