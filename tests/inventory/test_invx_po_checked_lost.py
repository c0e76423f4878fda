"""Staff checked TradeGecko and sent an ``unresolved`` order again as
checked; that send's answer was lost. TradeGecko keeps the checked send's
Idempotency-Key 24 hours (and has no reference_number filter to look the
order up), so within that day the order is sent again under the same key,
which answers the order the checked send placed: it is not ``unresolved``
again for staff to check a second time. Past the day it is, as any order
whose answer was lost."""

import pytest

from integrations.errors import Unknown
from inventory import services
from inventory.models import PurchaseOrder
from tests.inventory.test_inv4_po_key_lapsed import (  # noqa: F401 (fixtures)
    _age,
    _one_attempt,
    _sent_unanswered,
    gecko_orders,
)
from tests.inventory.test_revinv_po_send_checked_twice import _checked_by_staff

pytestmark = pytest.mark.django_db


def _unresolved_sent_checked_unanswered(gecko) -> PurchaseOrder:
    order = _sent_unanswered(gecko, hours_ago=25)
    with pytest.raises(services.InventoryError):
        services.purchase_order_send(purchase_order=order)
    order.refresh_from_db()
    assert order.status == "unresolved"
    _checked_by_staff(gecko)
    gecko.lose = 1  # TradeGecko places it; its answer is lost
    with pytest.raises(Unknown):
        services.purchase_order_send(purchase_order=order, checked=True)
    assert len(gecko.orders) == 1
    return PurchaseOrder.objects.get(pk=order.pk)


def test_a_checked_send_whose_answer_was_lost_is_sent_again_under_its_key(gecko):
    order = _unresolved_sent_checked_unanswered(gecko)
    assert order.status != "unresolved"

    services.purchase_order_send(purchase_order=order)

    assert len(gecko.orders) == 1  # the same order, answered again
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("sent", "9")
    assert order.send_tried_at is None and order.last_error == ""


def test_a_checked_send_unanswered_past_a_day_is_unresolved_again(gecko):
    order = _unresolved_sent_checked_unanswered(gecko)
    _age(order, 25)
    gecko.forgot = True

    with pytest.raises(services.InventoryError) as refused:
        services.purchase_order_send(purchase_order=order)

    assert refused.value.code == "purchase_order_unresolved"
    assert len(gecko.orders) == 1
    order.refresh_from_db()
    assert order.status == "unresolved"
