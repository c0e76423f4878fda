"""Purchase orders: drafted from reorder points, sent to the sandbox ERP
idempotently, status followed back (never backwards)."""

import io

import pytest
from django.core.management import CommandError, call_command

from integrations.errors import Unknown
from inventory import services
from inventory.models import PurchaseOrder, SandboxErpPurchaseOrder
from inventory.providers.sandbox import SandboxInventoryAdapter
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import (
    LocationFactory,
    ReorderPointFactory,
    StockLevelFactory,
    SupplierFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def erp(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    return ProviderAccountFactory(kind="inventory", slug="erp-po")


def test_drafts_one_order_per_supplier_for_skus_below_their_point():
    other = SupplierFactory(code="GLOBEX", currency="USD")
    StockLevelFactory(sku="LOW", on_hand=3)
    StockLevelFactory(sku="FINE", on_hand=50)
    StockLevelFactory(sku="LOW2", on_hand=0)
    ReorderPointFactory(sku="LOW", reorder_level=5, reorder_quantity=20)
    ReorderPointFactory(sku="FINE", reorder_level=5)
    ReorderPointFactory(sku="LOW2", supplier=other, reorder_quantity=7)
    ReorderPointFactory(sku="UNSTOCKED", reorder_quantity=4)
    orders = services.purchase_orders_draft()
    lines = {
        o.supplier.code: sorted((x.sku, x.quantity) for x in o.lines.all())
        for o in orders
    }
    assert lines == {"ACME": [("LOW", 20), ("UNSTOCKED", 4)], "GLOBEX": [("LOW2", 7)]}
    assert {o.currency for o in orders} == {"EUR", "USD"}
    # Covered by an open order now: nothing more is drafted.
    assert services.purchase_orders_draft() == []


def test_stock_at_a_location_not_selling_does_not_put_off_the_reorder():
    # An inactive location (switched off by staff, or found in an ERP and not
    # yet enabled) sells nothing: its units do not cover the reorder level.
    idle = LocationFactory(code="FOUND", active=False)
    StockLevelFactory(sku="LOW", on_hand=2)
    StockLevelFactory(sku="LOW", location=idle, on_hand=40)
    ReorderPointFactory(sku="LOW", reorder_level=5, reorder_quantity=20)
    orders = services.purchase_orders_draft()
    assert [(x.sku, x.quantity) for o in orders for x in o.lines.all()] == [("LOW", 20)]


def test_send_is_idempotent_by_our_public_id(erp):
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW")
    (order,) = services.purchase_orders_draft()
    services.purchase_order_send(purchase_order=order)
    reference = order.external_reference
    services.purchase_order_send(purchase_order=order)
    assert order.external_reference == reference
    assert (order.status, order.account_id) == ("sent", erp.pk)
    assert SandboxErpPurchaseOrder.objects.get().external_id == order.public_id


def test_a_failed_send_is_kept_and_can_be_sent_again(erp):
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW")
    (order,) = services.purchase_orders_draft()
    erp.settings = {"error_rate": 1.0}
    erp.save()
    with pytest.raises(Unknown):
        services.purchase_order_send(purchase_order=order)
    order.refresh_from_db()
    assert order.status == "draft" and order.last_error.startswith("server_error")
    erp.settings = {}
    erp.save()
    order.account.refresh_from_db()
    services.purchase_order_send(purchase_order=order)
    assert order.status == "sent" and order.last_error == ""


def test_refresh_follows_the_erp_forward_only(erp):
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW")
    (order,) = services.purchase_orders_draft()
    services.purchase_order_send(purchase_order=order)
    SandboxErpPurchaseOrder.objects.update(status="confirmed")
    assert services.purchase_orders_refresh_open() == 1
    order.refresh_from_db()
    assert order.status == "confirmed"
    SandboxErpPurchaseOrder.objects.update(status="sent")  # a stale answer
    services.purchase_order_refresh(purchase_order=order)
    assert PurchaseOrder.objects.get().status == "confirmed"


def test_command_drafts_and_sends(erp):
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW", reorder_quantity=9)
    out = io.StringIO()
    call_command("create_purchase_orders", "--send", stdout=out)
    assert "9 x LOW" in out.getvalue() and "sent as SPO-" in out.getvalue()
    assert PurchaseOrder.objects.get().status == "sent"


def test_command_that_cannot_send_exits_non_zero_and_a_rerun_sends_the_draft(
    erp, settings
):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    erp.settings = {**erp.settings, "outage": True}
    erp.save()
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW", reorder_quantity=9)

    with pytest.raises(CommandError) as caught:
        call_command(
            "create_purchase_orders",
            "--send",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    erp.settings = {**erp.settings, "outage": False}
    erp.save()
    out = io.StringIO()
    call_command("create_purchase_orders", "--send", stdout=out)

    assert "1 purchase order(s) not sent" in str(caught.value)
    assert "0 purchase order(s) drafted" in out.getvalue()
    assert PurchaseOrder.objects.get().status == "sent"


def test_the_refresh_schedule_skips_disabled_accounts_and_broken_ones(erp):
    from integrations.models import ProviderCall
    from inventory.tasks import refresh_purchase_orders

    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW", reorder_quantity=9)
    StockLevelFactory(sku="LOW2", on_hand=0)
    ReorderPointFactory(
        sku="LOW2", supplier=SupplierFactory(code="GLOBEX"), reorder_quantity=2
    )
    first, second = services.purchase_orders_draft()
    services.purchase_order_send(purchase_order=first)
    services.purchase_order_send(purchase_order=second)
    # Staff disable the ERP: it is not polled.
    type(erp).objects.filter(pk=erp.pk).update(enabled=False)
    calls = ProviderCall.objects.filter(account=erp).count()
    assert refresh_purchase_orders() == 0
    assert ProviderCall.objects.filter(account=erp).count() == calls
    # The first order's account has no adapter any more: the second is
    # still followed back.
    type(erp).objects.filter(pk=erp.pk).update(enabled=True)
    broken = ProviderAccountFactory(kind="inventory", slug="erp-gone")
    type(broken).objects.filter(pk=broken.pk).update(provider="retired-erp")
    PurchaseOrder.objects.filter(pk=first.pk).update(account=broken)
    assert refresh_purchase_orders() == 1


class WorkerKilled(BaseException):
    """SIGTERM / a worker timeout while the ERP call was in flight."""


def test_an_order_whose_send_died_mid_call_is_not_placed_at_a_second_erp(
    settings, monkeypatch
):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    first = ProviderAccountFactory(kind="inventory", slug="erp-a", priority=1)
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW")
    (order,) = services.purchase_orders_draft()

    original = SandboxInventoryAdapter.purchase_order_upsert

    def dies_after_the_erp_took_it(self, request):
        original(self, request)  # the ERP has the order ...
        raise WorkerKilled()  # ... and we never hear its answer

    monkeypatch.setattr(
        SandboxInventoryAdapter, "purchase_order_upsert", dies_after_the_erp_took_it
    )
    with pytest.raises(WorkerKilled):
        services.purchase_order_send(purchase_order=order)
    monkeypatch.undo()

    # Staff disable that ERP (or another becomes first by priority).
    type(first).objects.filter(pk=first.pk).update(enabled=False)
    ProviderAccountFactory(kind="inventory", slug="erp-b", priority=2)
    order = PurchaseOrder.objects.get(pk=order.pk)
    # Pinned to the ERP that may hold it: refused while that one is disabled.
    with pytest.raises(services.InventoryError, match="disabled"):
        services.purchase_order_send(purchase_order=order)
    placed = SandboxErpPurchaseOrder.objects.filter(external_id=order.public_id)
    assert placed.count() == 1, [p.account.slug for p in placed]


def test_an_account_that_cannot_be_called_refuses_the_send_and_keeps_no_order():
    # The first ERP's provider was dropped from this deploy: nothing is sent,
    # and the draft is not pinned to an ERP that never received it.
    broken = ProviderAccountFactory(kind="inventory", slug="erp-gone", priority=1)
    type(broken).objects.filter(pk=broken.pk).update(provider="dropped_here")
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW")
    (order,) = services.purchase_orders_draft()
    with pytest.raises(services.InventoryError, match="cannot be called"):
        services.purchase_order_send(purchase_order=order)
    order.refresh_from_db()
    assert order.account_id is None
    assert order.status == "draft"
