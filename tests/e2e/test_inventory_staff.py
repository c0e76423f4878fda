"""Staff find a low-stock SKU, draft a purchase order from it, and release a
reservation, in the admin."""

import pytest

from inventory import services
from inventory.models import PurchaseOrder, Reservation, StockLevel
from inventory.services import LineRequest
from tests.inventory.factories import ReorderPointFactory, StockLevelFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _select_and_run(page, row_text: str, action: str) -> None:
    row = page.locator("#result_list tbody tr", has_text=row_text)
    row.locator("input.action-select").check()
    page.select_option("select[name='action']", action)
    page.click("button[name='index']")
    page.locator(".messagelist").wait_for()


def test_low_stock_to_purchase_order_and_release(admin_login, live_server):
    StockLevelFactory(sku="MUG-BLUE", on_hand=2, low_threshold=5, state="low")
    StockLevelFactory(sku="MUG-RED", on_hand=80, low_threshold=5, state="in_stock")
    ReorderPointFactory(sku="MUG-BLUE", reorder_level=10, reorder_quantity=24)
    reservation = services.reservation_create(
        order_id="ORD-2001", lines=[LineRequest("MUG-RED", 3)]
    )
    page = admin_login()

    # The low-stock filter shows the SKU that needs reordering, and only it.
    page.goto(f"{live_server.url}/admin/inventory/stocklevel/")
    page.get_by_role("link", name="Low").click()
    page.wait_for_url("**/?state__exact=low")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "MUG-BLUE" in rows.inner_text()
    _select_and_run(page, "MUG-BLUE", "draft_purchase_orders")
    assert "Drafted 1 purchase order" in page.locator(".messagelist").inner_text()
    order = PurchaseOrder.objects.get()
    page.goto(f"{live_server.url}/admin/inventory/purchaseorder/")
    assert order.public_id in page.locator("#result_list").inner_text()
    assert [(x.sku, x.quantity) for x in order.lines.all()] == [("MUG-BLUE", 24)]

    # The reservation shows its time left; staff release it.
    page.goto(f"{live_server.url}/admin/inventory/reservation/")
    listing = page.locator("#result_list").inner_text()
    assert reservation.public_id in listing and "m " in listing
    _select_and_run(page, reservation.public_id, "release")
    assert "Released 1 reservation" in page.locator(".messagelist").inner_text()
    assert Reservation.objects.get().status == "released"
    assert StockLevel.objects.get(sku="MUG-RED").reserved == 0
