"""Staff's "send unresolved again" pressed twice (a double click, or two
staff at once): one order at TradeGecko. A click that comes after the first
send finished finds the order sent and refuses; two sends under way at once
carry the same Idempotency-Key, which TradeGecko performs once."""

import pytest
from django.urls import reverse

from inventory import services
from inventory.models import PurchaseOrder
from tests.inventory.test_inv4_po_key_lapsed import (  # noqa: F401 (fixtures)
    _one_attempt,
    _sent_unanswered,
    gecko_orders,
)

pytestmark = pytest.mark.django_db


def _checked_by_staff(gecko) -> None:
    # Staff found no such order at TradeGecko; it forgot the old key, and
    # remembers the next send's for its own 24 hours.
    gecko.orders.clear()
    gecko.keys.clear()
    gecko.forgot = False


def test_a_double_click_sends_one_order(gecko, admin_client):
    order = _sent_unanswered(gecko, hours_ago=25)
    with pytest.raises(services.InventoryError):
        services.purchase_order_send(purchase_order=order)
    _checked_by_staff(gecko)
    url = reverse("admin:inventory_purchaseorder_changelist")
    form = {"action": "send_checked", "_selected_action": [order.pk]}

    admin_client.post(url, form, follow=True)
    second = admin_client.post(url, form, follow=True)

    assert len(gecko.orders) == 1
    text = " ".join(str(m) for m in second.context["messages"])
    assert "not unresolved" in text


def test_two_staff_at_once_send_one_order(gecko):
    order = _sent_unanswered(gecko, hours_ago=25)
    with pytest.raises(services.InventoryError):
        services.purchase_order_send(purchase_order=order)
    _checked_by_staff(gecko)
    # Both read it unresolved before either sent it.
    first = PurchaseOrder.objects.get(pk=order.pk)
    other = PurchaseOrder.objects.get(pk=order.pk)

    services.purchase_order_send(purchase_order=first, checked=True)
    services.purchase_order_send(purchase_order=other, checked=True)

    assert len(gecko.orders) == 1
    order.refresh_from_db()
    assert order.status == "sent"
    assert order.external_reference == str(next(iter(gecko.orders)))
