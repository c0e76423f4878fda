"""A purchase order sent again after the ERP's answer to its send was lost.
NetSuite's upsert (PUT by external id, ``replace=item``) on an order it has
already approved or received would replace received lines, or be refused:
the re-send first reads the order by our external id and, when NetSuite
holds it, records it as sent. A first send stays one PUT. TradeGecko's
re-send is kept to one order by the same Idempotency-Key."""

import json

import pytest
import requests
import responses

from integrations.errors import ProviderError
from inventory import services
from inventory.models import PurchaseOrder
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order as _order

pytestmark = pytest.mark.django_db

RECORD = f"{ns.BASE}/record/v1/purchaseOrder"


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _netsuite_order(order_status: dict) -> dict:
    # In the order's currency (EUR), as the lost PUT placed it: an order found
    # in another one is refused (test_inv45_netsuite_currency_checks).
    currency = {"links": [], "id": ns.CURRENCY_IDS["EUR"], "refName": "EUR"}
    return {
        **ns.load("purchase_order.json"),
        "orderStatus": order_status,
        "id": "3581",
        "currency": currency,
    }


def _items(rsps) -> None:
    ns.currencies(rsps)
    rsps.post(
        ns.SUITEQL,
        json={"items": [{"id": "501", "itemid": "A"}], "hasMore": False},
        match=[ns.query_lacks("FROM currency")],
    )


def _record_calls(rsps) -> list[str]:
    # The purchase-order record's calls, SuiteQL look-ups left out.
    return [c.request.method for c in rsps.calls if "/purchaseOrder/" in c.request.url]


def _lost_first_send(account) -> PurchaseOrder:
    order = _order(status="draft")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _items(rsps)
        rsps.put(
            f"{RECORD}/eid:{order.public_id}",
            body=requests.exceptions.ReadTimeout("read timed out"),
        )
        with pytest.raises(ProviderError):
            services.purchase_order_send(purchase_order=order, account=account)
    order.refresh_from_db()
    assert order.status == "draft" and order.send_tried_at is not None
    return order


@pytest.mark.parametrize(
    ("order_status", "stored"),
    [
        ({"id": "F", "refName": "Pending Bill"}, "received"),
        ({"id": "B", "refName": "Pending Receipt"}, "confirmed"),
    ],
)
def test_a_netsuite_resend_after_a_lost_answer_records_the_order_it_holds(
    order_status, stored
):
    account = ns.make_account()
    order = _lost_first_send(account)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _items(rsps)
        rsps.get(f"{RECORD}/eid:{order.public_id}", json=_netsuite_order(order_status))
        # What NetSuite says to replacing a received order's lines.
        put = rsps.put(
            f"{RECORD}/eid:{order.public_id}",
            status=400,
            json={
                "o:errorDetails": [
                    {
                        "detail": "You cannot remove a line that has been received.",
                        "o:errorCode": "USER_ERROR",
                    }
                ]
            },
        )
        services.purchase_order_send(purchase_order=order, account=account)
    assert put.call_count == 0
    order.refresh_from_db()
    assert (order.status, order.external_reference) == (stored, "3581")
    assert order.last_error == "" and order.send_tried_at is None


def test_a_netsuite_resend_puts_when_netsuite_does_not_hold_the_order():
    account = ns.make_account()
    order = _lost_first_send(account)
    path = f"{RECORD}/eid:{order.public_id}"
    # The currency is cached since the first send: not asked again.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _items(rsps)
        rsps.get(
            path,
            status=404,
            json={"o:errorDetails": [{"detail": "Record not found."}]},
        )
        rsps.put(path, status=204)
        rsps.get(path, json=_netsuite_order({"id": "B", "refName": "Pending Receipt"}))
        services.purchase_order_send(purchase_order=order, account=account)
        methods = _record_calls(rsps)
    assert methods == ["GET", "PUT", "GET"]
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("confirmed", "3581")


def test_a_netsuite_first_send_is_one_put_with_no_look_up_before_it():
    account = ns.make_account()
    order = _order(status="draft")
    path = f"{RECORD}/eid:{order.public_id}"
    with responses.RequestsMock() as rsps:
        _items(rsps)
        rsps.put(path, status=204)
        rsps.get(path, json=_netsuite_order({"id": "B", "refName": "Pending Receipt"}))
        services.purchase_order_send(purchase_order=order, account=account)
        methods = _record_calls(rsps)
    assert methods == ["PUT", "GET"]


def test_a_tradegecko_resend_after_a_lost_answer_carries_the_same_key():
    account = tg.make_account()
    order = _order(status="draft")
    keys = []

    def post(request):
        keys.append(request.headers.get("Idempotency-Key"))
        if len(keys) == 1:
            raise requests.exceptions.ReadTimeout("read timed out")
        sent = json.loads(request.body)["purchase_order"]
        answer = {"purchase_order": {"id": 9, "status": "active", **sent}}
        return 201, {}, json.dumps(answer)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tg_lookups(rsps)
        rsps.add_callback("POST", f"{tg.BASE}/purchase_orders", callback=post)
        with pytest.raises(ProviderError):
            services.purchase_order_send(purchase_order=order, account=account)
        order.refresh_from_db()
        services.purchase_order_send(purchase_order=order, account=account)
    assert keys == [f"po-{order.public_id}"] * 2
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("sent", "9")


def tg_lookups(rsps) -> None:
    tg.currencies(rsps)
    rsps.add("GET", f"{tg.BASE}/variants", json={"variants": [{"id": 7, "sku": "A"}]})
