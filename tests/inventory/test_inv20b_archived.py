"""TradeGecko deletes softly (tradegecko/smaug, "Soft Deletion"): a deleted
variant keeps answering ``GET /variants/{id}`` with 200 and ``status:
archived`` (a variant's status is 'active' or 'archived'; its product's
'active', 'disabled' or 'archived'). Such a read-back is the variant gone,
not live stock: its levels are zeroed (or, naming none, noted as the 404's
are), whatever stock it still shows; restored (active again) it comes back.
The full listing (default ``status`` active: archived variants left out)
and the SKU look-up of a purchase order agree with it."""

import json
import time
import uuid

import pytest
import responses
from django.test import Client
from responses import matchers

from integrations.errors import Rejected
from integrations.models import WebhookEvent
from integrations.webhooks.services import webhook_event_process
from inventory.models import StockLevel, SyncStatus
from inventory.providers.base import PurchaseOrderLine, PurchaseOrderRequest
from inventory.providers.tradegecko import TradeGeckoAdapter
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, StockLevelFactory
from tests.inventory.paged_erp import paged_account, synced_levels
from tests.inventory.test_revinv20_restored_variant import SoftDeletingGecko, _variant

pytestmark = pytest.mark.django_db

# TradeGecko's variant object as its recorded exchange shows it (variant.json:
# status, product_status, updated_at, locations[] with stock 202 at 159).
VARIANT = tg.load("variant.json")["body"]["variant"]
ARCHIVED_AT = "2026-12-01T09:00:00.000Z"
RESTORED_AT = "2026-12-02T09:00:00.000Z"


@pytest.fixture
def account():
    account = tg.make_account()
    account.slug = "gecko"
    account.save()
    return account


def _read_back(**changes) -> dict:
    return {"variant": {**VARIANT, **changes}}


def _deliver(event: str, read_back: dict, object_id: int = VARIANT["id"]):
    body = json.dumps(
        {
            "object_id": object_id,
            "event": event,
            "timestamp": int(time.time()),
            "resource_url": f"{tg.BASE}/variants/{object_id}.json",
        }
    ).encode()
    with responses.RequestsMock() as rsps:
        rsps.get(f"{tg.BASE}/variants/{object_id}", json=read_back)
        response = Client().post(
            "/webhooks/gecko/",
            data=body,
            content_type="application/json",
            HTTP_X_GECKO_DELIVERY=uuid.uuid4().hex,
            HTTP_X_GECKO_SIGNATURE=tg.signed(body),
        )
        assert response.status_code == 200, response.content
        row = WebhookEvent.objects.latest("pk")
        webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    return row


def _levels() -> dict[str, int]:
    return dict(
        StockLevel.objects.filter(sku=VARIANT["sku"]).values_list(
            "location__code", "on_hand"
        )
    )


def _stocked(account) -> None:
    for code, on_hand in (("159", 7), ("160", 5)):
        StockLevelFactory(
            sku=VARIANT["sku"],
            location=LocationFactory(code=code),
            on_hand=on_hand,
            source=account,
        )


@pytest.mark.parametrize("event", ["variant.destroy", "variant.update"])
def test_an_archived_variant_read_back_is_zeroed_not_applied_as_live_stock(
    account, event
):
    """Deleted at TradeGecko, the variant still shows 202 at 159 and 98 at
    160: applied, the shop sells a deleted product until a full run."""
    _stocked(account)

    row = _deliver(event, _read_back(status="archived", updated_at=ARCHIVED_AT))

    assert row.status == "processed"
    levels = _levels()
    assert levels["159"] == 0
    assert levels["160"] == 0
    assert set(levels.values()) == {0}


def test_a_variant_of_an_archived_product_is_zeroed(account):
    _stocked(account)

    _deliver(
        "variant.update",
        _read_back(product_status="archived", updated_at=ARCHIVED_AT),
    )

    assert set(_levels().values()) == {0}


def test_an_unknown_variant_status_is_not_sold_as_live(account):
    # A variant is 'active' or 'archived': any other stated value is not
    # TradeGecko saying it is live.
    _stocked(account)

    _deliver("variant.update", _read_back(status="deleted", updated_at=ARCHIVED_AT))

    assert set(_levels().values()) == {0}


def test_a_restored_variant_comes_back(account):
    _stocked(account)
    _deliver("variant.destroy", _read_back(status="archived", updated_at=ARCHIVED_AT))
    assert _levels()["159"] == 0

    row = _deliver(
        "variant.update", _read_back(status="active", updated_at=RESTORED_AT)
    )

    assert (row.status, row.note) == ("processed", "")
    assert _levels()["159"] == 202
    assert _levels()["160"] == 98


def test_an_archived_variant_naming_no_location_is_noted_as_gone(account):
    """Nothing to zero (no locations, or no SKU): noted for staff as the
    404 is, the next full sync decides; its stock is not applied."""
    _stocked(account)

    row = _deliver(
        "variant.destroy",
        _read_back(status="archived", updated_at=ARCHIVED_AT, locations=[]),
    )

    assert row.status == "processed"
    assert row.note.startswith("not applied: ")
    assert f"variant {VARIANT['id']}" in row.note
    assert "archived" in row.note
    assert _levels() == {"159": 7, "160": 5}


def test_a_later_event_of_a_variant_a_full_run_zeroed_does_not_raise_it(settings):
    """A full run zeroes an archived variant (not listed by default); an
    event of it afterwards reads it back with its old stock: still gone."""
    account = paged_account(settings, tg.make_account, "159")
    account.slug = "gecko"
    account.save()
    gecko = SoftDeletingGecko([_variant(10, "A"), _variant(20, "B")])
    gecko.sync(account, full=True)
    gecko.set_status("B", "archived")
    run = gecko.sync(account, full=True)
    assert run.status == SyncStatus.SUCCEEDED
    assert synced_levels() == {"A": 6, "B": 0}

    archived = {**_variant(20, "B", status="archived"), "updated_at": ARCHIVED_AT}
    _deliver("variant.update", {"variant": archived}, object_id=20)

    assert synced_levels() == {"A": 6, "B": 0}


def test_a_full_run_zeroes_a_listed_variant_of_an_archived_product(settings):
    """The listing and the read-back agree: a variant TradeGecko lists whose
    product is archived is not live stock there either (a full run sets it
    to 0 as gone), or each full run would undo the webhook's zero."""
    account = paged_account(settings, tg.make_account, "159")
    gecko = SoftDeletingGecko([_variant(10, "A"), _variant(20, "B")])
    gecko.sync(account, full=True)
    gecko.variants[1]["product_status"] = "archived"

    run = gecko.sync(account, full=True)

    assert synced_levels() == {"A": 6, "B": 0}
    gone = [e.get("sku") for e in run.errors if e["code"] == "gone_at_erp"]
    assert gone == ["B"]


def _order(sku: str) -> PurchaseOrderRequest:
    return PurchaseOrderRequest(
        external_id="PO0435",
        supplier_code="633468",
        location_code="159",
        currency="SGD",
        lines=(PurchaseOrderLine(sku, 10, 2000),),
    )


def test_a_purchase_order_is_not_placed_for_an_archived_variant():
    """The SKU look-up reads the variant back too: an archived one among
    its answers is not the SKU's variant (nothing is posted)."""
    archived = {**VARIANT, "status": "archived"}
    adapter = TradeGeckoAdapter(tg.make_account())
    with responses.RequestsMock() as rsps:
        rsps.get(
            tg.VARIANTS,
            json={"variants": [archived]},
            match=[
                matchers.query_param_matcher({"sku": VARIANT["sku"], **tg.SKU_LOOKUP})
            ],
        )
        with pytest.raises(Rejected) as raised:
            adapter.purchase_order_upsert(_order(VARIANT["sku"]))
    assert raised.value.code == "unknown_sku"


def test_a_purchase_order_takes_the_live_variant_of_a_reused_sku():
    archived = {**VARIANT, "status": "archived"}
    live = {**VARIANT, "id": VARIANT["id"] + 1}
    created = tg.load("purchase_order_created.json")["body"]
    adapter = TradeGeckoAdapter(tg.make_account())
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.get(tg.VARIANTS, json={"variants": [archived, live]})
        posted = rsps.post(f"{tg.BASE}/purchase_orders", status=201, json=created)
        adapter.purchase_order_upsert(_order(VARIANT["sku"]))
    sent = json.loads(posted.calls[0].request.body)["purchase_order"]
    assert sent["purchase_order_line_items"][0]["variant_id"] == live["id"]
