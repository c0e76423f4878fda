"""inv48: an ERP order we already hold (its reference stored) is compared
for currency on every read of it, as a send's read-back is: the refresh
(service, schedule, admin action) and a send again's follow-back by the
stored reference. Orders recorded before the compare existed, or whose
currency was changed at the ERP since, are found so: ``currency_mismatch``
kept in ``last_error`` for staff, the ERP's status not taken (never
confirmed or received in another currency). Fixtures: TradeGecko's spec
recording (``"currency_id":4``, SGD, on the order), NetSuite's documented
purchaseOrder (currency record 1, the vendor's USD); the orders are EUR
(TradeGecko 2051 in the harness's currency list, NetSuite record 7)."""

import copy

import pytest
import responses
from django.urls import reverse

from integrations.errors import ProviderError
from inventory import services
from inventory.models import PurchaseOrder
from tests.inventory import netsuite_currency as nsc
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order

pytestmark = pytest.mark.django_db

TG_ID = "28381"
TG_ORDER = f"{tg.BASE}/purchase_orders/{TG_ID}"
SGD_ID, EUR_ID = tg.CURRENCY_IDS["SGD"], tg.CURRENCY_IDS["EUR"]
NS_ID = "3581"
NS_ORDER = f"{ns.BASE}/record/v1/purchaseOrder/{NS_ID}"


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def gecko_order(order: PurchaseOrder, **fields) -> dict:
    """The spec's recorded order under our reference: currency 4, SGD."""
    body = copy.deepcopy(tg.load("purchase_order_created.json")["body"])
    body["purchase_order"].update(reference_number=order.public_id, **fields)
    return body


def netsuite_order(order: PurchaseOrder, currency: str, status: str = "F") -> dict:
    """NetSuite's documented order, ours, in ``currency``; F: Pending Bill
    (received)."""
    record = nsc.record_in(currency)
    record.update(externalId=order.public_id, orderStatus={"id": status})
    return record


def _refreshed(order: PurchaseOrder, mock) -> Exception | None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock(rsps)
        try:
            services.purchase_order_refresh(purchase_order=order)
            error = None
        except (services.InventoryError, ProviderError) as raised:
            error = raised
    order.refresh_from_db()
    return error


def _tradegecko(body: dict):
    def mock(rsps):
        tg.currencies(rsps)
        rsps.get(TG_ORDER, json=body)

    return mock


def _netsuite(record: dict):
    def mock(rsps):
        nsc.eur_listed(rsps)
        rsps.get(NS_ORDER, json=record)

    return mock


def tg_sent() -> PurchaseOrder:
    return purchase_order(account=tg.make_account(), reference=TG_ID)


def ns_sent() -> PurchaseOrder:
    return purchase_order(account=ns.make_account(), reference=NS_ID)


# --- TradeGecko ----------------------------------------------------------------


def test_tradegecko_refresh_of_an_order_held_in_another_currency_is_kept_for_staff():
    order = tg_sent()
    body = gecko_order(order, status="received")
    error = _refreshed(order, _tradegecko(body))
    assert isinstance(error, services.InventoryError)
    assert error.code == "currency_mismatch"
    assert f"currency record {SGD_ID}" in error.message
    # Not taken: never received in another currency than ours.
    assert (order.status, order.raw_status) == ("sent", "")
    assert order.last_error.startswith("currency_mismatch: ")
    assert f"currency record {SGD_ID}" in order.last_error


def test_tradegecko_refresh_in_its_own_currency_clears_the_mismatch():
    order = tg_sent()
    _refreshed(order, _tradegecko(gecko_order(order, status="received")))
    assert order.last_error.startswith("currency_mismatch: ")
    # Staff corrected it at TradeGecko: the next refresh takes its status.
    body = gecko_order(order, status="received", currency_id=EUR_ID)
    assert _refreshed(order, _tradegecko(body)) is None
    assert (order.status, order.last_error) == ("received", "")


def test_tradegecko_refresh_keeps_another_error_than_a_mismatch():
    order = tg_sent()
    PurchaseOrder.objects.filter(pk=order.pk).update(
        last_error="reference_conflict: the ERP placed a second order 9"
    )
    body = gecko_order(order, status="received", currency_id=EUR_ID)
    assert _refreshed(order, _tradegecko(body)) is None
    assert order.status == "received"
    assert order.last_error.startswith("reference_conflict: ")


def test_tradegecko_order_cancelled_there_is_recorded_cancelled():
    order = tg_sent()
    assert _refreshed(order, _tradegecko(gecko_order(order, status="void"))) is None
    assert order.status == "cancelled"


def test_the_schedule_takes_no_status_from_an_order_in_another_currency():
    order = tg_sent()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _tradegecko(gecko_order(order, status="received"))(rsps)
        assert services.purchase_orders_refresh_open() == 0
    order.refresh_from_db()
    assert order.status == "sent"
    assert order.last_error.startswith("currency_mismatch: ")


def test_tradegecko_send_again_follows_back_and_compares_the_currency():
    # A sent order sent again is followed back by its reference, not posted:
    # that read is compared as the POST's answer is.
    order = tg_sent()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _tradegecko(gecko_order(order, status="received"))(rsps)
        with pytest.raises((services.InventoryError, ProviderError)):
            services.purchase_order_send(purchase_order=order)
        posted = [c for c in rsps.calls if c.request.method == "POST"]
    order.refresh_from_db()
    assert posted == []
    assert order.status == "sent"
    assert order.last_error.startswith("currency_mismatch: ")


# --- NetSuite ------------------------------------------------------------------


def test_netsuite_refresh_of_an_order_held_in_another_currency_is_kept_for_staff():
    order = ns_sent()
    error = _refreshed(order, _netsuite(netsuite_order(order, nsc.USD_ID)))
    assert isinstance(error, services.InventoryError)
    assert error.code == "currency_mismatch"
    assert order.status == "sent"
    assert order.last_error.startswith("currency_mismatch: ")
    assert f"currency record {nsc.USD_ID}" in order.last_error
    assert order.last_error.endswith("then refresh the order")


def test_netsuite_refresh_in_its_own_currency_takes_the_status():
    order = ns_sent()
    assert _refreshed(order, _netsuite(netsuite_order(order, nsc.EUR_ID))) is None
    assert order.status == "received"


def test_netsuite_single_currency_account_order_without_currency_passes():
    # An account without Multiple Currencies shows no currency on its orders.
    order = ns_sent()
    assert _refreshed(order, _netsuite(netsuite_order(order, None))) is None
    assert order.status == "received"


def test_netsuite_send_again_follows_back_and_compares_the_currency():
    order = ns_sent()
    record = netsuite_order(order, nsc.USD_ID)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _netsuite(record)(rsps)
        with pytest.raises((services.InventoryError, ProviderError)):
            services.purchase_order_send(purchase_order=order)
        put = [c for c in rsps.calls if c.request.method == "PUT"]
    order.refresh_from_db()
    assert put == []
    assert order.status == "sent"
    assert order.last_error.startswith("currency_mismatch: ")


# --- What staff see ------------------------------------------------------------


def test_staff_refresh_action_says_the_mismatch_and_the_list_keeps_it(admin_client):
    order = tg_sent()
    url = reverse("admin:inventory_purchaseorder_changelist")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _tradegecko(gecko_order(order, status="received"))(rsps)
        response = admin_client.post(
            url, {"action": "refresh", "_selected_action": [order.pk]}, follow=True
        )
    page = response.content.decode()
    # Django's messages capitalise the first letter (the public id's).
    said = f"{order.public_id[1:]}: TradeGecko holds the order in currency record 4"
    assert said in page
    assert "then refresh the order" in page
    listed = admin_client.get(url).content.decode()
    assert "currency_mismatch: TradeGecko holds the order" in listed
    order.refresh_from_db()
    assert order.status == "sent"


def test_netsuite_refresh_at_an_account_booking_in_another_single_currency():
    # Without Multiple Currencies, stated USD: an EUR order there is booked
    # as USD, a mismatch kept for staff as the held one's is.
    order = purchase_order(
        account=nsc.account_with({"single_currency": "USD"}), reference=NS_ID
    )

    def mock(rsps):
        nsc.refused_look_up(rsps)
        rsps.get(NS_ORDER, json=netsuite_order(order, nsc.USD_ID))

    error = _refreshed(order, mock)
    assert isinstance(error, services.InventoryError)
    assert error.code == "currency_mismatch"
    assert order.status == "sent"
    assert order.last_error.startswith("currency_mismatch: NetSuite books in USD")


def test_a_refused_currency_look_up_is_kept_for_staff_until_it_passes():
    # TradeGecko answered with the order, but lists no EUR (removed there):
    # its status is not taken unchecked, and staff see why in the list.
    order = tg_sent()
    body = gecko_order(order, status="received", currency_id=EUR_ID)

    def no_eur(rsps):
        tg.currencies(rsps, listed={})
        rsps.get(TG_ORDER, json=body)

    error = _refreshed(order, no_eur)
    assert isinstance(error, services.InventoryError)
    assert error.code == "unknown_currency"
    assert order.status == "sent"
    assert order.last_error.startswith(
        "unknown_currency: TradeGecko has no currency EUR"
    )
    assert _refreshed(order, _tradegecko(body)) is None
    assert (order.status, order.last_error) == ("received", "")


def test_the_schedule_looks_the_currency_up_once_for_many_orders():
    # The compare costs one currency look-up per account and currency, kept
    # an hour (erp_currency), not one per order refreshed.
    account = tg.make_account()
    orders = [
        purchase_order(account=account, reference=str(n)) for n in (201, 202, 203)
    ]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tg.currencies(rsps)
        for order in orders:
            body = gecko_order(order, status="received", currency_id=EUR_ID)
            body["purchase_order"]["id"] = int(order.external_reference)
            rsps.get(f"{tg.BASE}/purchase_orders/{order.external_reference}", json=body)
        assert services.purchase_orders_refresh_open() == 3
        asked = [c.request.url.split("?")[0] for c in rsps.calls]
    assert asked.count(tg.CURRENCIES) == 1
    assert len(asked) == 4
