"""A purchase order carries its currency to the ERP. Left out, TradeGecko
reads the prices in the account's default currency and NetSuite in the
vendor's: an order in EUR at 1.00 would be booked as 1.00 of another
currency. The ERP's own currency record is looked up by ISO code (cached);
a code it has no currency for is refused before anything is written, the
reason stored on the order for staff."""

import json

import pytest
import requests
import responses

from integrations.errors import ProviderError
from inventory import services
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.netsuite_currency import answer_orders
from tests.inventory.purchase_orders import purchase_order as _order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _gecko(rsps, posted: list) -> None:
    rsps.add("GET", tg.VARIANTS, json={"variants": [{"id": 7, "sku": "A"}]})

    def post(request):
        sent = json.loads(request.body)["purchase_order"]
        posted.append(sent)
        answer = {
            "purchase_order": {
                "id": 9 + len(posted),
                "status": "active",
                "currency_id": sent["currency_id"],
            }
        }
        return 201, {}, json.dumps(answer)

    rsps.add_callback("POST", f"{tg.BASE}/purchase_orders", callback=post)


def test_a_tradegecko_order_carries_its_currency_id_looked_up_once():
    account = tg.make_account()
    first, second = _order(status="draft"), _order(status="draft")
    posted: list = []
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        _gecko(rsps, posted)
        services.purchase_order_send(purchase_order=first, account=account)
        services.purchase_order_send(purchase_order=second, account=account)
        asked = [c for c in rsps.calls if "/currencies" in c.request.url]
    assert [order["currency_id"] for order in posted] == [tg.CURRENCY_IDS["EUR"]] * 2
    assert posted[0]["purchase_order_line_items"][0]["price"] == "1.00"
    assert len(asked) == 1  # the second order's currency came from the cache


def test_a_tradegecko_currency_it_does_not_list_is_refused_before_the_post():
    account = tg.make_account()
    order = _order(status="draft")
    posted: list = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tg.currencies(rsps, listed={})  # the recording's: no EUR
        _gecko(rsps, posted)
        with pytest.raises(services.InventoryError) as caught:
            services.purchase_order_send(purchase_order=order, account=account)
    assert caught.value.code == "erp_rejected" and posted == []
    order.refresh_from_db()
    assert order.status == "draft" and order.send_tried_at is None
    assert order.last_error.startswith(
        "unknown_currency: TradeGecko has no currency EUR"
    )


def test_a_lost_tradegecko_currency_answer_places_nothing_and_starts_no_key():
    account = tg.make_account()
    order = _order(status="draft")
    posted: list = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(tg.CURRENCIES, body=requests.exceptions.ReadTimeout("timed out"))
        _gecko(rsps, posted)
        with pytest.raises(ProviderError) as caught:
            services.purchase_order_send(purchase_order=order, account=account)
    assert caught.value.code == "read_timeout" and posted == []
    order.refresh_from_db()
    assert order.send_tried_at is None  # no order posted: no key life begun


def test_a_netsuite_order_sets_its_currency_record_looked_up_once():
    account = ns.make_account()
    first, second = _order(status="draft"), _order(status="draft")
    with responses.RequestsMock() as rsps:
        ns.currencies(rsps)
        puts = answer_orders(rsps)
        services.purchase_order_send(purchase_order=first, account=account)
        services.purchase_order_send(purchase_order=second, account=account)
        asked = [c for c in rsps.calls if b"FROM currency" in (c.request.body or b"")]
    assert [body["currency"] for body in puts] == [{"id": ns.CURRENCY_IDS["EUR"]}] * 2
    assert len(asked) == 1


def test_a_netsuite_currency_it_has_no_record_of_is_refused_before_the_put():
    account = ns.make_account()
    order = _order(status="draft")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        ns.currencies(rsps, listed={"USD": "1"})
        puts = answer_orders(rsps)
        with pytest.raises(services.InventoryError) as caught:
            services.purchase_order_send(purchase_order=order, account=account)
    assert caught.value.code == "erp_rejected" and puts == []
    order.refresh_from_db()
    assert order.status == "draft"
    assert order.last_error.startswith("unknown_currency: NetSuite has no currency EUR")
