"""revinv26: a purchase order's variant look-up (``GET /variants?sku=``)
happens before its POST. An answer cut at the look-up's page bound
(``lookup_cut``), or one we cannot read, places no order: the send must
not start the Idempotency-Key's 24 hours (``send_tried_at``), or the next
send a day later is refused as ``unresolved`` ("check the ERP") for an
order TradeGecko never received."""

import json
from datetime import timedelta

import pytest
import responses

from integrations.clock import database_now
from integrations.errors import ProviderError
from inventory import services
from inventory.models import PurchaseOrder, PurchaseOrderLine
from inventory.providers.tradegecko_paging import LOOKUP_PAGES
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, SupplierFactory

pytestmark = pytest.mark.django_db

POSTS = f"{tg.BASE}/purchase_orders"
LIMIT = 250


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


def _buried(request):
    """More archived variants of SKU A than the look-up reads (1001)."""
    page = int(request.params["page"])
    rows = [
        {"id": 1000 + (page - 1) * LIMIT + n, "sku": "A", "status": "archived"}
        for n in range(LIMIT)
    ]
    pagination = {"total_records": LOOKUP_PAGES * LIMIT + 1}
    headers = {"X-Pagination": json.dumps(pagination)}
    return 200, headers, json.dumps({"variants": rows})


def _send_failing(order: PurchaseOrder, variants_answer) -> Exception:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        variants_answer(rsps)
        rsps.add("POST", POSTS, json={"purchase_order": {"id": 9}}, status=201)
        with pytest.raises((ProviderError, services.InventoryError)) as raised:
            services.purchase_order_send(
                purchase_order=order, account=tg.make_account()
            )
        assert not [c for c in rsps.calls if c.request.method == "POST"]
    return raised.value


def _cut(rsps) -> None:
    rsps.add_callback("GET", tg.VARIANTS, callback=_buried)


def _unreadable(rsps) -> None:
    rsps.add("GET", tg.VARIANTS, json={"variants": "nope"})


def test_a_cut_look_up_is_refused_with_its_code_and_places_nothing():
    order = _draft()

    error = _send_failing(order, _cut)

    assert "too many variants with SKU A" in str(error)
    order.refresh_from_db()
    assert order.last_error.startswith("lookup_cut: ")
    assert order.send_tried_at is None  # no key TradeGecko could remember


@pytest.mark.parametrize("answer", [_cut, _unreadable], ids=["cut", "unreadable"])
def test_a_failed_look_up_leaves_the_order_sendable_a_day_later(answer):
    order = _draft()
    _send_failing(order, answer)
    PurchaseOrder.objects.filter(pk=order.pk, send_tried_at__isnull=False).update(
        send_tried_at=database_now() - timedelta(hours=25)
    )

    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add("GET", tg.VARIANTS, json={"variants": [{"id": 7, "sku": "A"}]})
        rsps.add(
            "POST",
            POSTS,
            json={
                "purchase_order": {
                    "id": 9,
                    "status": "active",
                    "currency_id": tg.CURRENCY_IDS["EUR"],
                }
            },
            status=201,
        )
        services.purchase_order_send(purchase_order=order)

    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("sent", "9")


def test_the_admin_send_names_a_cut_look_up_in_one_message(admin_client):
    from django.urls import reverse

    order = _draft()
    order.account = tg.make_account()
    order.save(update_fields=["account"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _cut(rsps)
        response = admin_client.post(
            reverse("admin:inventory_purchaseorder_changelist"),
            {"action": "send", "_selected_action": [order.pk]},
            follow=True,
        )

    assert response.status_code == 200
    [message] = [str(m) for m in response.context["messages"]]
    assert message == (
        f"{order.public_id}: not sent (TradeGecko lists too many variants with "
        "SKU A to read)"
    )
