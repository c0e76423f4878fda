"""Purchase orders against ERP answers that are not what the documentation
shows: a status that is a list or object, a 422 whose field errors are not
lists. Each is the ERP's fault of one order (a malformed answer or its
refusal, stored on the order), never a crash that stops the other orders
or reaches staff as a 500."""

import pytest
import responses

from integrations.errors import ProviderError
from inventory import services
from inventory.tasks import refresh_purchase_orders
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order as _order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


@pytest.mark.parametrize("status", [["active"], {"id": "active"}])
def test_a_tradegecko_status_that_is_not_text_fails_its_order_alone(status):
    account = tg.make_account()
    odd, fine = _order(account, "1"), _order(account, "2")
    # Each order carries its currency_id (the spec's recording), compared
    # with ours (EUR) on every read: the currency list is asked once.
    eur = tg.CURRENCY_IDS["EUR"]
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add(
            "GET",
            f"{tg.BASE}/purchase_orders/1",
            json={"purchase_order": {"id": 1, "status": status, "currency_id": eur}},
        )
        rsps.add(
            "GET",
            f"{tg.BASE}/purchase_orders/2",
            json={
                "purchase_order": {"id": 2, "status": "received", "currency_id": eur}
            },
        )
        assert refresh_purchase_orders() == 1
    odd.refresh_from_db()
    fine.refresh_from_db()
    assert (odd.status, fine.status) == ("sent", "received")


@pytest.mark.parametrize("status", [{"id": ["B"]}, {"id": {"B": 1}}])
def test_a_netsuite_status_that_is_not_text_fails_its_order_alone(status):
    account = ns.make_account()
    odd, fine = _order(account, "1"), _order(account, "2")
    with responses.RequestsMock() as rsps:
        rsps.add(
            "GET",
            f"{ns.BASE}/record/v1/purchaseOrder/1",
            json={"id": "1", "orderStatus": status},
        )
        rsps.add(
            "GET",
            f"{ns.BASE}/record/v1/purchaseOrder/2",
            json={"id": "2", "orderStatus": {"id": "G", "refName": "Fully Billed"}},
        )
        assert refresh_purchase_orders() == 1
    odd.refresh_from_db()
    fine.refresh_from_db()
    assert (odd.status, fine.status) == ("sent", "received")


def test_a_tradegecko_send_answered_with_an_odd_status_is_kept_with_its_error():
    account = tg.make_account()
    order = _order(status="draft")
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add(
            "GET", f"{tg.BASE}/variants", json={"variants": [{"id": 7, "sku": "A"}]}
        )
        rsps.add(
            "POST",
            f"{tg.BASE}/purchase_orders",
            json={"purchase_order": {"id": 9, "status": ["active"]}},
        )
        with pytest.raises(ProviderError) as caught:
            services.purchase_order_send(purchase_order=order, account=account)
    assert caught.value.code == "malformed_response"
    order.refresh_from_db()
    assert order.status == "draft" and order.account == account
    assert order.last_error.startswith("malformed_response")


@pytest.mark.parametrize(
    ("errors", "shown"),
    [
        ({"base": "is not allowed"}, "base is not allowed"),
        ({"quantity": 5}, "quantity 5"),
        ({"quantity": None}, "quantity"),
        (
            {"company_id": ["can't be blank", "is invalid"]},
            "company_id can't be blank, is invalid",
        ),
    ],
)
def test_a_tradegecko_refusal_names_its_fields_whatever_their_shape(errors, shown):
    account = tg.make_account()
    order = _order(status="draft")
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add(
            "GET", f"{tg.BASE}/variants", json={"variants": [{"id": 7, "sku": "A"}]}
        )
        rsps.add(
            "POST", f"{tg.BASE}/purchase_orders", json={"errors": errors}, status=422
        )
        with pytest.raises(services.InventoryError) as caught:
            services.purchase_order_send(purchase_order=order, account=account)
    assert caught.value.code == "erp_rejected"
    assert caught.value.message == f"TradeGecko refused the request: {shown}"
    order.refresh_from_db()
    assert order.last_error == f"invalid_request: {caught.value.message}"


@pytest.mark.parametrize("supplier_code", ["²", "٣", "12x"])
def test_a_tradegecko_supplier_code_of_no_ascii_digits_is_refused_before_a_call(
    supplier_code,
):
    # str.isdigit() takes superscripts and other scripts' digits: int() of
    # "²" raised a ValueError (a 500 in the admin), "٣" became company 3.
    account = tg.make_account()
    order = _order(status="draft")
    order.supplier.code = supplier_code
    order.supplier.save()
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add(
            "GET", f"{tg.BASE}/variants", json={"variants": [{"id": 7, "sku": "A"}]}
        )
        with pytest.raises(services.InventoryError) as caught:
            services.purchase_order_send(purchase_order=order, account=account)
        assert not [c for c in rsps.calls if c.request.method == "POST"]
    assert caught.value.message == "TradeGecko supplier ids are numbers"
