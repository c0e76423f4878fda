"""Staff send an order again that the ERP already answered (its reference is
stored): the ERP's order is followed back by that reference, not placed
again. TradeGecko keeps a POST's Idempotency-Key 24 hours: a second POST
after that is a second order at the supplier."""

import json

import pytest
import responses

from inventory import services
from inventory.models import PurchaseOrder, PurchaseOrderLine
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, SupplierFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _draft() -> PurchaseOrder:
    order = PurchaseOrder.objects.create(
        supplier=SupplierFactory(code="55"),
        location=LocationFactory(code="123"),
        currency="EUR",
    )
    PurchaseOrderLine.objects.create(
        purchase_order=order, sku="A", quantity=3, unit_cost=100
    )
    return order


class ForgetfulGecko:
    """TradeGecko once a POST's key has lapsed: every POST is a new order."""

    def __init__(self) -> None:
        self.orders: dict[int, dict] = {}
        self.placed = 0

    def create(self, request):
        number = 9 + self.placed
        self.placed += 1
        sent = json.loads(request.body)["purchase_order"]
        self.orders[number] = {"id": number, "status": "active", **sent}
        return 201, {}, json.dumps({"purchase_order": self.orders[number]})

    def install(self, rsps) -> None:
        tg.currencies(rsps)
        rsps.add(
            "GET", f"{tg.BASE}/variants", json={"variants": [{"id": 7, "sku": "A"}]}
        )
        rsps.add_callback("POST", f"{tg.BASE}/purchase_orders", callback=self.create)
        for number in (9, 10):
            rsps.add_callback(
                "GET",
                f"{tg.BASE}/purchase_orders/{number}",
                callback=lambda request, n=number: (
                    (200, {}, json.dumps({"purchase_order": self.orders[n]}))
                    if n in self.orders
                    else (404, {}, "{}")
                ),
            )


def test_sending_a_sent_order_again_places_no_second_order():
    account = tg.make_account()
    order = _draft()
    gecko = ForgetfulGecko()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gecko.install(rsps)
        services.purchase_order_send(purchase_order=order, account=account)
        gecko.orders[9]["status"] = "received"
        # Days later, staff pick it in the list and send it again.
        order = PurchaseOrder.objects.get(pk=order.pk)
        services.purchase_order_send(purchase_order=order)
    assert list(gecko.orders) == [9]
    order.refresh_from_db()
    assert (order.external_reference, order.status) == ("9", "received")


def test_an_order_the_erp_no_longer_has_is_placed_again():
    account = tg.make_account()
    order = _draft()
    gecko = ForgetfulGecko()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gecko.install(rsps)
        services.purchase_order_send(purchase_order=order, account=account)
        del gecko.orders[9]  # deleted at TradeGecko
        order = PurchaseOrder.objects.get(pk=order.pk)
        services.purchase_order_send(purchase_order=order)
    assert list(gecko.orders) == [10]
    order.refresh_from_db()
    assert (order.external_reference, order.status) == ("10", "sent")
