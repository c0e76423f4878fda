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


def test_send_refuses_a_draft_kept_for_a_disabled_erp_account(settings):
    from integrations.errors import Unknown
    from integrations.models import ProviderCall
    from inventory import services
    from tests.factories import ProviderAccountFactory

    settings.PROVIDER_MAX_ATTEMPTS = 1
    old = ProviderAccountFactory(kind="inventory", slug="erp-old", priority=10)
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW", reorder_quantity=9)
    (order,) = services.purchase_orders_draft()
    # The first send's answer is lost: the old ERP may hold the order.
    old.settings = {"error_rate": 1.0}
    old.save()
    with pytest.raises(Unknown):
        services.purchase_order_send(purchase_order=order)
    # Staff disable the old ERP and add a new one.
    old.enabled, old.settings = False, {}
    old.save()
    new = ProviderAccountFactory(kind="inventory", slug="erp-new", priority=20)
    calls = ProviderCall.objects.filter(account=old).count()

    err = io.StringIO()
    with pytest.raises(CommandError, match="1 purchase order"):
        call_command(
            "create_purchase_orders", "--send", stdout=io.StringIO(), stderr=err
        )
    # Sent nowhere: not to the disabled account, not twice at the new one.
    assert ProviderCall.objects.filter(account=old).count() == calls
    assert not ProviderCall.objects.filter(account=new).exists()
    assert "'erp-old' is disabled" in err.getvalue()
    assert PurchaseOrder.objects.get().status == "draft"


def test_an_erp_reference_longer_than_we_store_fails_that_order_only(
    settings, monkeypatch
):
    """TradeGecko/NetSuite ids are numbers of no stated bound; the column
    holds 64. That order is not sent (a malformed answer, on its line), the
    other draft is, and the exit says one was not."""
    from inventory.providers.base import PurchaseOrderResult
    from inventory.providers.sandbox import SandboxInventoryAdapter
    from tests.factories import ProviderAccountFactory
    from tests.inventory.factories import SupplierFactory

    settings.PROVIDER_MAX_ATTEMPTS = 1
    ProviderAccountFactory(kind="inventory", slug="erp-a")
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW")
    StockLevelFactory(sku="LOW2", on_hand=0)
    ReorderPointFactory(sku="LOW2", supplier=SupplierFactory(code="GLOBEX"))
    original = SandboxInventoryAdapter.purchase_order_upsert
    seen = []

    def long_id_first(self, request):
        result = original(self, request)
        seen.append(request.external_id)
        if len(seen) == 1:
            return PurchaseOrderResult(
                external_reference="9" * 80,
                status=result.status,
                external_id=result.external_id,
                raw_status=result.raw_status,
            )
        return result

    monkeypatch.setattr(SandboxInventoryAdapter, "purchase_order_upsert", long_id_first)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 purchase order"):
        call_command(
            "create_purchase_orders", "--send", stdout=io.StringIO(), stderr=err
        )
    assert PurchaseOrder.objects.filter(status="sent").count() == 1
    assert f"{seen[0]} not sent" in err.getvalue()
    refused = PurchaseOrder.objects.get(public_id=seen[0])
    assert refused.last_error.startswith("malformed_response")


def test_any_error_sending_one_order_fails_that_order_only(settings, monkeypatch):
    from inventory.providers.sandbox import SandboxInventoryAdapter
    from tests.factories import ProviderAccountFactory
    from tests.inventory.factories import SupplierFactory

    settings.PROVIDER_MAX_ATTEMPTS = 1
    ProviderAccountFactory(kind="inventory", slug="erp-a")
    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW")
    StockLevelFactory(sku="LOW2", on_hand=0)
    ReorderPointFactory(sku="LOW2", supplier=SupplierFactory(code="GLOBEX"))
    original = SandboxInventoryAdapter.purchase_order_upsert
    seen = []

    def crashes_first(self, request):
        seen.append(request.external_id)
        if len(seen) == 1:
            raise RuntimeError("a bug")
        return original(self, request)

    monkeypatch.setattr(SandboxInventoryAdapter, "purchase_order_upsert", crashes_first)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 purchase order"):
        call_command(
            "create_purchase_orders", "--send", stdout=io.StringIO(), stderr=err
        )
    assert PurchaseOrder.objects.filter(status="sent").count() == 1
    assert f"{seen[0]} not sent: RuntimeError: a bug" in err.getvalue()
