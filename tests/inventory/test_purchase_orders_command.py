"""``create_purchase_orders --sku``: a SKU we hold nothing for is refused
with one line and a non-zero exit, not "0 purchase order(s) drafted."
(which reads as "stock is fine")."""

import io

import pytest
from django.core.management import CommandError, call_command

from inventory.models import PurchaseOrder
from tests.inventory.factories import ReorderPointFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


def test_create_purchase_orders_refuses_an_unknown_sku():
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("create_purchase_orders", sku=["NO-SUCH-SKU"], stdout=out)
    assert str(caught.value) == (
        "No stock level or reorder point for SKU 'NO-SUCH-SKU'."
    )
    assert out.getvalue() == ""


def test_one_unknown_sku_among_known_ones_is_named_and_nothing_is_drafted():
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW", reorder_quantity=9)
    with pytest.raises(CommandError) as caught:
        call_command(
            "create_purchase_orders",
            "--sku",
            "LOW",
            "--sku",
            "L0W",
            "--sku",
            "L0W",
            stdout=io.StringIO(),
        )
    assert str(caught.value) == "No stock level or reorder point for SKU 'L0W'."
    assert not PurchaseOrder.objects.exists()


def test_a_sku_with_only_stock_or_only_a_reorder_point_is_known():
    StockLevelFactory(sku="STOCKED", on_hand=50)
    ReorderPointFactory(sku="RULED", reorder_quantity=4)
    out = io.StringIO()
    call_command(
        "create_purchase_orders", "--sku", "STOCKED", "--sku", "RULED", stdout=out
    )
    # RULED has no stock anywhere: below its level, so it is drafted.
    assert "4 x RULED" in out.getvalue()
    assert "1 purchase order(s) drafted." in out.getvalue()
