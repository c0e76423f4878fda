"""Shared by the TradeGecko purchase-order currency tests (inv42, inv44,
inv47, r-inv47): the recorded order (purchase_order_created.json, id
ERP_ID, currency 4) under a reference number, staff's "Found at the ERP" for
it, and a send with the variant look-up and the order's POST answered."""

import copy
import json

import responses

from integrations.errors import ProviderError
from inventory import services
from inventory.models import PurchaseOrder
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import found_at_erp_posted

ERP_ID = 28381
ORDER_URL = f"{tg.BASE}/purchase_orders/{ERP_ID}"
ORDERS_URL = f"{tg.BASE}/purchase_orders"


def at_gecko(reference: str | None, **fields) -> dict:
    """The recorded order's body under ``reference`` (its reference_number),
    ``fields`` changed."""
    body = copy.deepcopy(tg.load("purchase_order_created.json")["body"])
    body["purchase_order"].update(reference_number=reference, **fields)
    return body


def found_at_erp(admin_client, order: PurchaseOrder, body: dict, listed=None):
    """Staff record TradeGecko's order ERP_ID, answered ``body``, for
    ``order``; its currency list as ``tg.currencies`` gives it with
    ``listed``. The admin's answer and the URLs asked (without query)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tg.currencies(rsps, listed)
        rsps.get(ORDER_URL, json=body)
        response = found_at_erp_posted(admin_client, order, str(ERP_ID))
        asked = [c.request.url.split("?")[0] for c in rsps.calls]
    order.refresh_from_db()
    return response, asked


def orders_answered(rsps, answer: dict | None = None) -> list[dict]:
    """SKU "A" found as variant 7, and each order POST answered 201 with
    ``answer`` (None: order 10, active, in the currency_id posted): the
    orders posted, as the list returned."""
    posted: list[dict] = []
    rsps.get(tg.VARIANTS, json={"variants": [{"id": 7, "sku": "A"}]})

    def post(request):
        posted.append(json.loads(request.body)["purchase_order"])
        placed = {
            "id": 10,
            "status": "active",
            "currency_id": posted[-1]["currency_id"],
        }
        return 201, {}, json.dumps(answer or {"purchase_order": placed})

    rsps.add_callback(
        "POST", ORDERS_URL, callback=post, content_type="application/json"
    )
    return posted


def send(order: PurchaseOrder, account=None):
    """``order`` sent at ``account`` (None: its own); the order read again
    and the error, if any (an InventoryError or a ProviderError)."""
    error = None
    try:
        services.purchase_order_send(
            purchase_order=order, account=account or order.account
        )
    except (services.InventoryError, ProviderError) as raised:
        error = raised
    order.refresh_from_db()
    return order, error


def send_answered(order: PurchaseOrder, answer: dict, listed=None):
    """``order`` sent, TradeGecko's currency list as ``tg.currencies`` gives
    it with ``listed``, the POST answered ``answer``: the order read again,
    the error (if any) and the orders posted."""
    # Not all asked: a send again finds the currency's id kept (an hour).
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tg.currencies(rsps, listed)
        posted = orders_answered(rsps, answer)
        order, error = send(order)
    return order, error, posted
