"""``stock_levels_apply`` page rules, the same on PostgreSQL (raw upsert) and
SQLite (ORM upsert): counts, modification times, states counted with expired
holds as free, and which state changes are announced."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Event
from inventory import services
from inventory.models import Location, StockLevel
from inventory.providers.base import StockLevelRecord
from inventory.services import InsufficientStock, LineRequest
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db


def _apply(*records, account=None, now=None):
    return services.stock_levels_apply(
        account=account, records=list(records), now=now or timezone.now()
    )


def test_a_mixed_page_counts_and_writes_each_kind_of_record(settings):
    settings.INVENTORY_LOW_STOCK_THRESHOLD = 3
    now = timezone.now()
    earlier = now - timedelta(hours=1)
    account = ProviderAccountFactory(kind="inventory", slug="erp")
    StockLevelFactory(sku="SAME", on_hand=7, erp_modified_at=earlier)
    StockLevelFactory(sku="NEWER", on_hand=7, erp_modified_at=earlier)
    StockLevelFactory(sku="MOVED", on_hand=7, erp_modified_at=earlier)
    StockLevelFactory(sku="OLDER", on_hand=7, erp_modified_at=now)
    result = _apply(
        StockLevelRecord("SAME", "MAIN", 7, earlier),
        StockLevelRecord("NEWER", "MAIN", 7, now),
        StockLevelRecord("MOVED", "MAIN", 20, now),
        StockLevelRecord("OLDER", "MAIN", 1, earlier),
        StockLevelRecord("FRESH", "MAIN", 2, now),
        account=account,
        now=now,
    )
    assert (result.seen, result.changed, result.ignored) == (5, 2, 1)
    assert result.newest == now
    levels = {level.sku: level for level in StockLevel.objects.all()}
    assert levels["SAME"].synced_at is None
    assert (levels["NEWER"].erp_modified_at, levels["NEWER"].synced_at) == (now, now)
    assert (levels["MOVED"].on_hand, levels["MOVED"].source_id) == (20, account.pk)
    assert levels["OLDER"].on_hand == 7
    fresh = levels["FRESH"]
    assert (fresh.on_hand, fresh.reserved, fresh.state) == (2, 0, "low")
    assert (fresh.low_threshold, fresh.source_id) == (3, account.pk)
    # A level we never had gets its state without an event.
    assert not Event.objects.filter(name=services.LEVEL_CHANGED).exists()


def test_a_record_without_a_modification_time_keeps_the_stored_one():
    stored = timezone.now() - timedelta(minutes=5)
    StockLevelFactory(sku="A", on_hand=10, erp_modified_at=stored)
    result = _apply(StockLevelRecord("A", "MAIN", 4, None))
    level = StockLevel.objects.get(sku="A")
    assert (result.changed, level.on_hand, level.erp_modified_at) == (1, 4, stored)


def test_expired_holds_count_as_free_in_the_state_a_sync_stores():
    now = timezone.now()
    level = StockLevelFactory(sku="A", on_hand=5, low_threshold=2)
    services.reservation_create(
        order_id="o-1",
        lines=[LineRequest("A", 5)],
        now=now - timedelta(hours=1),  # expired long ago, not yet released
    )
    level.refresh_from_db()
    assert (level.reserved, level.state) == (5, "out_of_stock")
    _apply(StockLevelRecord("A", "MAIN", 4, now), now=now)
    level.refresh_from_db()
    # 4 on hand, the 5 expired units free again: in stock, not oversold.
    assert (level.on_hand, level.reserved, level.state) == (4, 5, "in_stock")
    event = Event.objects.filter(name=services.LEVEL_CHANGED).latest("pk")
    assert event.payload == {
        "sku": "A",
        "location": "MAIN",
        "state": "in_stock",
        "previous_state": "out_of_stock",
        "on_hand": 4,
        "reserved": 0,
        "available": 4,
        "oversold_by": 0,
    }
    assert not Event.objects.filter(name=services.OVERSOLD).exists()


def test_a_live_hold_above_the_new_on_hand_is_oversold_and_announced_once():
    now = timezone.now()
    StockLevelFactory(sku="A", on_hand=10, low_threshold=2)
    StockLevelFactory(sku="B", on_hand=10, low_threshold=2)
    services.reservation_create(order_id="o-1", lines=[LineRequest("A", 6)])
    _apply(
        StockLevelRecord("A", "MAIN", 4, now),
        StockLevelRecord("B", "MAIN", 9, now),
        now=now,
    )
    a = StockLevel.objects.get(sku="A")
    assert (a.on_hand, a.reserved, a.state, a.oversold_by) == (4, 6, "oversold", 2)
    assert StockLevel.objects.get(sku="B").state == "in_stock"
    oversold = Event.objects.get(name=services.OVERSOLD)
    assert oversold.payload["oversold_by"] == 2
    changed = Event.objects.filter(name=services.LEVEL_CHANGED)
    assert [e.payload["sku"] for e in changed] == ["A"]
    # The same figures again change nothing and announce nothing more.
    result = _apply(StockLevelRecord("A", "MAIN", 4, now), now=now)
    assert result.changed == 0
    assert Event.objects.filter(name=services.LEVEL_CHANGED).count() == 1


def test_a_location_the_erp_names_that_we_lack_is_created_inactive(caplog):
    # Stock at a warehouse staff never configured is not sellable until they
    # enable it: created inactive, marked as found in the ERP, and logged.
    now = timezone.now()
    _apply(StockLevelRecord("A", "NEWWH", 5, now), now=now)

    location = Location.objects.get(code="NEWWH")
    assert (location.active, location.priority) == (False, 1000)
    assert location.discovered_at == now
    assert "inventory location created inactive" in caplog.messages
    with pytest.raises(InsufficientStock):
        services.reservation_create(order_id="o-1", lines=[LineRequest("A", 1)])


def test_a_level_carries_its_locations_active_flag():
    # Reservations check the flag on the level row, not the location: a
    # level a sync creates at an inactive location has it off, and the
    # switch writes it on every level of its location.
    now = timezone.now()
    _apply(StockLevelRecord("A", "NEWWH", 5, now), now=now)
    location = Location.objects.get(code="NEWWH")
    assert StockLevel.objects.get(sku="A").location_active is False

    services.location_active_set(location_id=location.pk, active=True)
    _apply(StockLevelRecord("B", "NEWWH", 5, now), now=now)
    assert dict(StockLevel.objects.values_list("sku", "location_active")) == {
        "A": True,
        "B": True,
    }

    services.location_active_set(location_id=location.pk, active=False)
    assert set(StockLevel.objects.values_list("location_active", flat=True)) == {False}


def _announced():
    return [
        (e.payload["state"], e.payload["previous_state"], e.payload["available"])
        for e in Event.objects.filter(name=services.LEVEL_CHANGED).order_by("pk")
    ]


def test_stock_at_an_inactive_location_is_announced_only_once_enabled():
    # An ERP-found warehouse sells nothing until enabled (API and
    # reservations skip it): the storefront is not told its stock is
    # available, and is told once staff enable it, and again when disabled.
    erp = ProviderAccountFactory(kind="inventory", slug="erp-wh")
    now = timezone.now()
    _apply(StockLevelRecord("A", "NEWWH", 0, now - timedelta(minutes=5)), now=now)
    location = Location.objects.get(code="NEWWH")
    assert location.active is False
    _apply(StockLevelRecord("A", "NEWWH", 5, now), account=erp, now=now)
    assert StockLevel.objects.get(sku="A").on_hand == 5
    assert _announced() == []

    services.location_active_set(location_id=location.pk, active=True)
    assert _announced() == [("low", "out_of_stock", 5)]
    reservation = services.reservation_create(
        order_id="o-1", lines=[LineRequest("A", 1)]
    )
    assert reservation.lines.get().location == location

    services.location_active_set(location_id=location.pk, active=False)
    assert _announced()[-1] == ("out_of_stock", "low", 0)


def test_a_stored_far_future_time_orders_only_times_as_far_ahead():
    """A stored year-3000 stamp (an ERP data bug) gives way to a figure
    stamped now, whose time replaces it, but still orders one stamped
    year 2999; a stored time hours ahead (a time zone labelled UTC) orders
    every figure, as the ERP's own clock."""
    now = timezone.now()
    year_3000 = now.replace(year=3000)
    StockLevelFactory(sku="BUG", on_hand=5, erp_modified_at=year_3000)
    StockLevelFactory(sku="ZONE", on_hand=5, erp_modified_at=now + timedelta(hours=9))
    result = _apply(
        StockLevelRecord("BUG", "MAIN", 5, now.replace(year=2999)),
        StockLevelRecord("ZONE", "MAIN", 1, now),
    )
    assert result.ignored == 2
    result = _apply(StockLevelRecord("BUG", "MAIN", 5, now))
    assert (result.ignored, StockLevel.objects.get(sku="BUG").erp_modified_at) == (
        0,
        now,
    )
    assert StockLevel.objects.get(sku="ZONE").on_hand == 5
