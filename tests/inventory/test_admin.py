"""The inventory back office: stock with availability filters, draft purchase
orders from low stock, releasing reservations, "sync now" and purchase-order
actions."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import Event
from inventory import services
from inventory.models import (
    Location,
    PurchaseOrder,
    Reservation,
    SandboxErpLevel,
    StockLevel,
    SyncRun,
)
from inventory.providers.base import StockLevelRecord
from inventory.services import LineRequest
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import ReorderPointFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


def _action(admin_client, model: str, action: str, pks: list[int]):
    return admin_client.post(
        reverse(f"admin:inventory_{model}_changelist"),
        {"action": action, "_selected_action": pks},
        follow=True,
    )


def test_stock_list_filters_low_and_shows_availability(admin_client):
    StockLevelFactory(sku="LOWSKU", on_hand=2, state="low")
    StockLevelFactory(sku="PLENTY", on_hand=50, state="in_stock")
    past = timezone.now() - timedelta(hours=1)
    services.reservation_create(
        order_id="o", lines=[LineRequest("PLENTY", 5)], ttl_seconds=60, now=past
    )
    url = reverse("admin:inventory_stocklevel_changelist")
    low = admin_client.get(url, {"state": "low"}).content.decode()
    assert "LOWSKU" in low and "PLENTY" not in low
    page = admin_client.get(url, {"reserved": "yes"})
    assert page.status_code == 200
    # The expired reservation does not count: 50 available, 0 reserved.
    level = page.context["cl"].result_list[0]
    assert (level.sku, level.expired_units) == ("PLENTY", 5)
    assert ">50<" in page.content.decode()


def test_draft_purchase_order_from_low_stock(admin_client):
    level = StockLevelFactory(sku="LOWSKU", on_hand=1)
    ReorderPointFactory(sku="LOWSKU", reorder_quantity=12)
    response = _action(admin_client, "stocklevel", "draft_purchase_orders", [level.pk])
    assert "Drafted 1 purchase order" in response.content.decode()
    order = PurchaseOrder.objects.get()
    assert [(x.sku, x.quantity) for x in order.lines.all()] == [("LOWSKU", 12)]


def test_release_reservation_action(admin_client):
    StockLevelFactory(sku="A", on_hand=5)
    reservation = services.reservation_create(order_id="o", lines=[LineRequest("A", 3)])
    listing = admin_client.get(reverse("admin:inventory_reservation_changelist"))
    assert "m " in listing.content.decode()  # time left, e.g. "14m 59s"
    response = _action(admin_client, "reservation", "release", [reservation.pk])
    assert "Released 1 reservation" in response.content.decode()
    assert Reservation.objects.get().status == "released"
    assert StockLevel.objects.get(sku="A").reserved == 0


def test_sync_now_enqueues_a_run_and_shows_progress(
    admin_client, django_capture_on_commit_callbacks
):
    erp = ProviderAccountFactory(kind="inventory", slug="erp-admin")
    SandboxErpLevel.objects.create(
        account=erp, sku="A", location_code="MAIN", on_hand=4
    )
    listing = admin_client.get(reverse("admin:inventory_syncrun_changelist"))
    assert b"Sync now" in listing.content
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:inventory_syncrun_sync_now"), {"account": erp.pk}
        )
    run = SyncRun.objects.get()
    assert response["Location"] == reverse(
        "admin:inventory_syncrun_change", args=[run.pk]
    )
    assert run.status == "succeeded" and run.items_seen == 1  # Q_SYNC in tests
    page = admin_client.get(response["Location"]).content.decode()
    assert "succeeded: 1 pages, 1 seen" in page
    assert 'http-equiv="refresh"' not in page


def test_sync_now_refuses_a_second_run(admin_client):
    erp = ProviderAccountFactory(kind="inventory", slug="erp-busy")
    services.sync_run_start(account=erp)
    response = admin_client.post(
        reverse("admin:inventory_syncrun_sync_now"), {"account": erp.pk}, follow=True
    )
    assert "already under way" in response.content.decode()
    run = SyncRun.objects.get()
    page = admin_client.get(reverse("admin:inventory_syncrun_change", args=[run.pk]))
    assert 'http-equiv="refresh"' in page.content.decode()


def test_send_purchase_order_action(admin_client):
    ProviderAccountFactory(kind="inventory", slug="erp-po-admin")
    StockLevelFactory(sku="LOWSKU", on_hand=0)
    ReorderPointFactory(sku="LOWSKU")
    (order,) = services.purchase_orders_draft()
    response = _action(admin_client, "purchaseorder", "send", [order.pk])
    assert "sent as SPO-" in response.content.decode()
    assert PurchaseOrder.objects.get().status == "sent"


def test_refresh_purchase_order_action_never_asks_a_disabled_erp(admin_client):
    from inventory.models import SandboxErpPurchaseOrder

    erp = ProviderAccountFactory(kind="inventory", slug="erp-po-off")
    StockLevelFactory(sku="LOWSKU", on_hand=0)
    ReorderPointFactory(sku="LOWSKU")
    (order,) = services.purchase_orders_draft()
    services.purchase_order_send(purchase_order=order)
    SandboxErpPurchaseOrder.objects.update(status="confirmed")
    type(erp).objects.filter(pk=erp.pk).update(enabled=False)

    response = _action(admin_client, "purchaseorder", "refresh", [order.pk])

    assert "is disabled" in response.content.decode()
    assert PurchaseOrder.objects.get().status == "sent"


def test_dashboard_shows_the_erps_like_the_gateways(admin_client):
    ProviderAccountFactory(kind="payments", provider="sandbox", slug="pay-sbx")
    ProviderAccountFactory(kind="inventory", provider="sandbox", slug="erp-sbx")
    ProviderAccountFactory(
        kind="inventory",
        provider="netsuite",
        slug="erp-netsuite",
        settings={"account_id": "1234567"},
    )

    page = admin_client.get("/admin/integrations/dashboard/")

    assert page.status_code == 200
    slugs = [row.overview.account.slug for row in page.context["rows"]]
    assert {"pay-sbx", "erp-sbx", "erp-netsuite"} <= set(slugs)


def _save_threshold(admin_client, level, low_threshold):
    url = reverse("admin:inventory_stocklevel_change", args=[level.pk])
    response = admin_client.post(url, {"low_threshold": low_threshold, "_save": "Save"})
    assert response.status_code == 302, response.content[:500]


def test_raising_the_low_threshold_moves_the_state_and_announces_it(admin_client):
    """10 available, threshold raised from 2 to 20: the level is low by the
    rule available <= threshold, so its stored state (what the state filter
    and the storefront's events go by) moves and is announced."""
    level = StockLevelFactory(sku="A", on_hand=10, low_threshold=2, state="in_stock")
    _save_threshold(admin_client, level, 20)
    level.refresh_from_db()
    assert (level.low_threshold, level.state) == (20, "low")
    event = Event.objects.get(name="inventory.level_changed")
    assert (event.payload["previous_state"], event.payload["state"]) == (
        "in_stock",
        "low",
    )


def test_saving_the_threshold_keeps_a_reservation_made_meanwhile(
    admin_client, monkeypatch
):
    """Staff's save writes the threshold alone: a reservation committed
    between the page's read and its save stays in ``reserved`` (a whole-row
    save would write back the stale figure and sell those units twice)."""
    from inventory.admin.stock import StockLevelAdmin

    level = StockLevelFactory(sku="A", on_hand=10, low_threshold=2)
    original = StockLevelAdmin.save_model

    def save_model(self, request, obj, form, change):
        # A checkout lands while staff's request is between read and write.
        services.reservation_create(order_id="o1", lines=[LineRequest("A", 4)])
        original(self, request, obj, form, change)

    monkeypatch.setattr(StockLevelAdmin, "save_model", save_model)
    _save_threshold(admin_client, level, 3)
    level.refresh_from_db()
    assert (level.reserved, level.low_threshold) == (4, 3)
    with pytest.raises(services.InsufficientStock):
        services.reservation_create(order_id="o2", lines=[LineRequest("A", 10)])


def test_a_location_found_in_the_erp_waits_inactive_for_staff_to_enable(
    admin_client,
):
    now = timezone.now()
    services.stock_levels_apply(
        account=None, records=[StockLevelRecord("A", "NEWWH", 5, now)], now=now
    )
    url = reverse("admin:inventory_location_changelist")
    page = admin_client.get(url).content.decode()
    assert "NEWWH" in page
    assert "not sellable until enabled" in page
    found = admin_client.get(url, {"awaiting": "yes"}).context["cl"].result_list
    assert [location.code for location in found] == ["NEWWH"]

    location = Location.objects.get(code="NEWWH")
    response = _action(admin_client, "location", "enable_locations", [location.pk])

    assert "Enabled 1 location" in response.content.decode()
    location.refresh_from_db()
    assert location.active
    reservation = services.reservation_create(
        order_id="o-1", lines=[LineRequest("A", 1)]
    )
    assert reservation.lines.get().location == location


def test_a_view_only_staff_user_cannot_enable_a_location(client):
    # Enabling makes an unreviewed warehouse's stock sellable: it takes the
    # change permission, like every other admin action.
    from django.contrib.auth.models import Permission, User

    viewer = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_location"))
    location = Location.objects.create(
        code="NEWWH", active=False, discovered_at=timezone.now()
    )
    client.force_login(viewer)
    url = reverse("admin:inventory_location_changelist")
    assert client.get(url).status_code == 200
    client.post(
        url, {"action": "enable_locations", "_selected_action": [str(location.pk)]}
    )
    location.refresh_from_db()
    assert location.active is False


def test_switching_active_in_the_location_list_tells_the_storefront(admin_client):
    now = timezone.now()
    services.stock_levels_apply(
        account=None, records=[StockLevelRecord("A", "NEWWH", 50, now)], now=now
    )
    location = Location.objects.get(code="NEWWH")
    announced = Event.objects.filter(name=services.LEVEL_CHANGED)
    assert not announced.exists()
    admin_client.post(
        reverse("admin:inventory_location_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(location.pk),
            "form-0-priority": "1000",
            "form-0-active": "on",
            "_save": "Save",
        },
    )
    location.refresh_from_db()
    assert location.active is True
    assert [(e.payload["state"], e.payload["available"]) for e in announced] == [
        ("in_stock", 50)
    ]


def test_saving_the_location_list_with_a_bad_row_id_changes_nothing(admin_client):
    location = Location.objects.create(code="EAST", active=True, priority=1)
    for bad in ["99999999999999999999999", "x", str(location.pk + 1000)]:
        response = admin_client.post(
            reverse("admin:inventory_location_changelist"),
            {
                "form-TOTAL_FORMS": "1",
                "form-INITIAL_FORMS": "1",
                "form-0-id": bad,
                "form-0-priority": "5",
                "_save": "Save",
            },
        )
        assert response.status_code == 200, bad  # the list again, with the error
    location.refresh_from_db()
    assert (location.priority, location.active) == (1, True)


def test_a_sync_runs_erp_time_ahead_of_our_clock_is_marked_for_staff(admin_client):
    """``high_water`` is the ERP's newest modification time, kept as sent: a
    clock or data error (year 3000) must not read as a real time. The page
    says it is ahead of our clock; a credible one is shown plainly."""
    erp = ProviderAccountFactory(kind="inventory", slug="erp")
    ahead = SyncRun.objects.create(
        account=erp, status="succeeded", high_water=timezone.now() + timedelta(days=400)
    )
    fine = SyncRun.objects.create(
        account=erp, status="succeeded", high_water=timezone.now() - timedelta(hours=1)
    )

    def page(run):
        url = reverse("admin:inventory_syncrun_change", args=[run.pk])
        response = admin_client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    assert "ahead of our clock" in page(ahead)
    assert "ahead of our clock" not in page(fine)
    assert str(fine.high_water.year) in page(fine)
