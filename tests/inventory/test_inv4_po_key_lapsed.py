"""TradeGecko keeps a POST's Idempotency-Key 24 hours, and its purchase
order listing has no filter by our reference_number (provider spec: only
paging). An order whose send went unanswered (the answer lost) more than 24
hours ago is therefore not sent again on its own: TradeGecko would place a
second order with the supplier if the first was placed. It becomes
``unresolved`` for staff, who check TradeGecko and send it again as
checked. Within the 24 hours, or after a send that certainly did nothing,
it is sent again as before."""

import json
from datetime import timedelta

import pytest
import requests
import responses
from django.urls import reverse
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations.clock import database_now
from integrations.errors import NotProcessed, Unknown
from inventory import services
from inventory.models import PurchaseOrder, PurchaseOrderLine
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, SupplierFactory

pytestmark = pytest.mark.django_db

POSTS = f"{tg.BASE}/purchase_orders"


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


class Gecko:
    """TradeGecko's purchase orders: a POST places an order unless its key
    is remembered (``forgot`` once 24 hours passed); ``lose`` answers that
    are lost after the order is placed."""

    def __init__(self) -> None:
        self.orders: dict[int, dict] = {}
        self.keys: dict[str, int] = {}
        self.forgot = False
        self.lose = 0
        self.refuse = 0

    def create(self, request):
        if self.refuse:
            self.refuse -= 1
            refused = NewConnectionError(None, "[Errno 111] Connection refused")
            raise requests.ConnectionError(MaxRetryError(None, POSTS, reason=refused))
        key = request.headers["Idempotency-Key"]
        if self.forgot or key not in self.keys:
            number = 9 + len(self.orders)
            sent = json.loads(request.body)["purchase_order"]
            self.orders[number] = {"id": number, "status": "active", **sent}
            self.keys[key] = number
        if self.lose:
            self.lose -= 1
            raise requests.ReadTimeout("read timed out")
        body = {"purchase_order": self.orders[self.keys[key]]}
        return 201, {}, json.dumps(body)

    def install(self, rsps) -> None:
        tg.currencies(rsps)
        rsps.add(
            "GET", f"{tg.BASE}/variants", json={"variants": [{"id": 7, "sku": "A"}]}
        )
        rsps.add_callback("POST", POSTS, callback=self.create)


@pytest.fixture(name="gecko")
def gecko_orders():
    fake = Gecko()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield fake


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


def _sent_unanswered(gecko, hours_ago: float) -> PurchaseOrder:
    """An order TradeGecko placed whose answer was lost ``hours_ago``."""
    order = _draft()
    gecko.lose = 1
    with pytest.raises(Unknown):
        services.purchase_order_send(purchase_order=order, account=tg.make_account())
    _age(order, hours_ago)
    gecko.forgot = hours_ago >= 24
    return PurchaseOrder.objects.get(pk=order.pk)


def _age(order: PurchaseOrder, hours_ago: float) -> None:
    PurchaseOrder.objects.filter(pk=order.pk).update(
        send_tried_at=database_now() - timedelta(hours=hours_ago)
    )


def test_a_lost_answer_past_a_day_is_not_sent_again_but_left_to_staff(gecko):
    order = _sent_unanswered(gecko, hours_ago=25)

    with pytest.raises(services.InventoryError) as refused:
        services.purchase_order_send(purchase_order=order)

    assert refused.value.code == "purchase_order_unresolved"
    assert len(gecko.orders) == 1  # no second order at the supplier
    order.refresh_from_db()
    assert order.status == "unresolved"
    assert "check the ERP" in order.last_error
    # Still covering its SKUs: no second draft is made for them.
    assert order.status in services.purchasing.OPEN


def test_an_unresolved_order_is_not_sent_by_a_plain_send_again(gecko):
    order = _sent_unanswered(gecko, hours_ago=25)
    with pytest.raises(services.InventoryError):
        services.purchase_order_send(purchase_order=order)
    order.refresh_from_db()

    with pytest.raises(services.InventoryError) as refused:
        services.purchase_order_send(purchase_order=order)

    assert refused.value.code == "purchase_order_unresolved"
    assert len(gecko.orders) == 1


def test_a_lost_answer_within_the_day_is_sent_again_under_its_key(gecko):
    order = _sent_unanswered(gecko, hours_ago=23)

    services.purchase_order_send(purchase_order=order)

    assert len(gecko.orders) == 1
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("sent", "9")
    assert order.send_tried_at is None


def test_a_send_that_certainly_did_nothing_is_sent_again_days_later(gecko):
    order = _draft()
    gecko.refuse = 1
    with pytest.raises(NotProcessed):
        services.purchase_order_send(purchase_order=order, account=tg.make_account())
    order.refresh_from_db()
    assert order.send_tried_at is None  # no key TradeGecko could remember
    gecko.forgot = True

    services.purchase_order_send(purchase_order=order)

    assert len(gecko.orders) == 1
    order.refresh_from_db()
    assert order.status == "sent"


def test_staff_send_an_unresolved_order_again_once_checked(gecko, admin_client):
    order = _sent_unanswered(gecko, hours_ago=25)
    with pytest.raises(services.InventoryError):
        services.purchase_order_send(purchase_order=order)
    # Staff found no such order at TradeGecko (say it was never placed).
    gecko.orders.clear()

    response = admin_client.post(
        reverse("admin:inventory_purchaseorder_changelist"),
        {"action": "send_checked", "_selected_action": [order.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert len(gecko.orders) == 1
    order.refresh_from_db()
    assert order.status == "sent"
    assert order.external_reference == str(next(iter(gecko.orders)))


def test_the_admin_send_names_an_unresolved_order(gecko, admin_client):
    order = _sent_unanswered(gecko, hours_ago=25)

    response = admin_client.post(
        reverse("admin:inventory_purchaseorder_changelist"),
        {"action": "send", "_selected_action": [order.pk]},
        follow=True,
    )

    text = " ".join(str(m) for m in response.context["messages"])
    assert f"{order.public_id}: not sent" in text
    assert "Check the ERP" in text
    assert len(gecko.orders) == 1
