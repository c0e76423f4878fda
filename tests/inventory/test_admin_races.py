"""Staff saving locations in the admin while checkouts, releases, syncs and
other staff run: the saves keep the lock order of every writer (locations by
id, then levels by pk) and never write back a column they did not change."""

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from inventory import services
from inventory.models import (
    Location,
    Reservation,
    SandboxErpLevel,
    StockLevel,
    SyncRun,
)
from inventory.providers.base import StockLevelRecord
from inventory.services import InsufficientStock, LineRequest, apply_pg
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import LocationFactory, StockLevelFactory
from tests.pg import wait_for_a_lock_wait

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _thread(fn: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        try:
            fn()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _list_save(client, rows: list[tuple[Location, int, bool]]) -> object:
    """Post the location list's editable columns (priority, active) for
    ``rows`` in the given order; the status code, or the error raised."""
    data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": str(len(rows))}
    for index, (location, priority, active) in enumerate(rows):
        data[f"form-{index}-id"] = str(location.pk)
        data[f"form-{index}-priority"] = str(priority)
        if active:
            data[f"form-{index}-active"] = "on"
    try:
        return client.post(
            reverse("admin:inventory_location_changelist"), {**data, "_save": "Save"}
        ).status_code
    except Exception as exc:
        return repr(exc)[:200]


def test_staff_renaming_a_location_while_another_disables_it_keeps_it_disabled(
    admin_client, monkeypatch
):
    """Staff A renames EAST; B's Disable commits while A's request is between
    reading the location and saving it. A's save writes the name alone: the
    location stays disabled with its levels (a whole-row save wrote back
    ``active`` as A read it, the levels' flag left off: stock listed as
    available that no checkout could take), and Enable then sells it."""
    east = LocationFactory(code="EAST", active=True, priority=1)
    StockLevelFactory(sku="A", location=east, on_hand=10, low_threshold=0)
    real_save, raced = Location.save, []

    def save_after_a_disable(self, *args, **kwargs):
        if not raced:
            raced.append(True)
            _thread(
                lambda: services.location_active_set(location_id=east.pk, active=False)
            ).join(10)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Location, "save", save_after_a_disable)
    response = admin_client.post(
        reverse("admin:inventory_location_change", args=[east.pk]),
        {
            "code": "EAST",
            "name": "East (renamed)",
            "priority": "1",
            "active": "on",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert raced
    east.refresh_from_db()
    assert (east.name, east.active) == ("East (renamed)", False)
    assert list(StockLevel.objects.values_list("location_active", flat=True)) == [False]
    assert services.available_by_sku(["A"], timezone.now()) == {"A": 0}
    services.location_active_set(location_id=east.pk, active=True)
    services.reservation_create(order_id="o-1", lines=[LineRequest("A", 1)])


def test_enabling_an_enabled_location_repairs_levels_left_disabled():
    """A location already active whose levels kept ``location_active`` off
    (written apart by an older whole-row save): Enable sets their flag."""
    east = LocationFactory(code="EAST", active=True, priority=1)
    StockLevelFactory(sku="A", location=east, on_hand=10, low_threshold=0)
    StockLevel.objects.update(location_active=False)
    services.location_active_set(location_id=east.pk, active=True)
    assert list(StockLevel.objects.values_list("location_active", flat=True)) == [True]
    services.reservation_create(order_id="o-1", lines=[LineRequest("A", 1)])


def _two_locations() -> tuple[Location, Location]:
    """WEST with the lower id, EAST first in the list (lower priority)."""
    west = LocationFactory(code="WEST", active=True, priority=2)
    east = LocationFactory(code="EAST", active=True, priority=1)
    assert west.pk < east.pk
    return west, east


def _after_first_save(
    monkeypatch, start: Callable[[], None], pause: Callable[[], object]
) -> list:
    """Once the list's first row is saved, start ``start`` in a thread and
    ``pause`` while it locks what it can, before the save goes on."""
    real_save, started = Location.save, []

    def save(self, *args, **kwargs):
        result = real_save(self, *args, **kwargs)
        if not started:
            started.append(_thread(start))
            pause()
        return result

    monkeypatch.setattr(Location, "save", save)
    return started


def test_reordering_two_locations_in_the_list_while_a_sync_page_runs(
    admin_client, monkeypatch
):
    """Staff swap two warehouses' priorities (the list saves them in its
    order, by priority) while a sync page covering both share-locks them in
    id order: no deadlock, both go through."""
    west, east = _two_locations()
    StockLevelFactory(sku="A", location=east, on_hand=5)
    StockLevelFactory(sku="A", location=west, on_hand=5)
    outcome = {}

    def page() -> None:
        now = timezone.now()
        records = [
            StockLevelRecord("A", "EAST", 7, now),
            StockLevelRecord("A", "WEST", 7, now),
        ]
        try:
            services.stock_levels_apply(account=None, records=records, now=now)
            outcome["page"] = "ok"
        except Exception as exc:
            outcome["page"] = repr(exc)[:200]

    started = _after_first_save(monkeypatch, page, lambda: wait_for_a_lock_wait(0.5))
    outcome["admin"] = _list_save(admin_client, [(east, 2, True), (west, 1, True)])
    started[0].join(10)
    assert outcome == {"admin": 302, "page": "ok"}, outcome
    assert set(StockLevel.objects.values_list("on_hand", flat=True)) == {7}
    assert list(Location.objects.values_list("code", flat=True)) == ["WEST", "EAST"]


def test_reordering_two_locations_during_a_full_sync_keeps_the_run(
    admin_client, monkeypatch, settings
):
    """The same through a real sync: its page is not made a deadlock victim
    (which ended the whole run ``failed``), nor is staff's save (a 500)."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 10
    erp = ProviderAccountFactory(kind="inventory", slug="erp-deadlock")
    west, east = _two_locations()
    for code in ("EAST", "WEST"):
        SandboxErpLevel.objects.create(
            account=erp,
            sku="A",
            location_code=code,
            on_hand=4,
            modified_at=timezone.now() - timedelta(minutes=5),
        )
    real_lock, locking, outcome = apply_pg._lock_locations, threading.Event(), {}

    def lock_locations(ids):
        locking.set()
        return real_lock(ids)

    monkeypatch.setattr(apply_pg, "_lock_locations", lock_locations)

    def sync() -> None:
        try:
            outcome["sync"] = services.inventory_sync(account=erp, full=True).status
        except Exception as exc:
            outcome["sync"] = repr(exc)[:200]

    def up_to_its_lock() -> None:
        locking.wait(10)
        # the page shares WEST and waits for EAST, or for both
        wait_for_a_lock_wait(0.3)

    started = _after_first_save(monkeypatch, sync, up_to_its_lock)
    outcome["admin"] = _list_save(admin_client, [(east, 2, True), (west, 1, True)])
    started[0].join(20)
    run = SyncRun.objects.get(account=erp)
    outcome["run"] = (run.status, [error.get("code") for error in run.errors])
    assert outcome == {"admin": 302, "sync": "succeeded", "run": ("succeeded", [])}, (
        outcome
    )


def _switch_both_when_west_saves(monkeypatch, start: Callable[[], None]) -> list:
    """Start ``start`` when WEST is saved after EAST was switched (levels
    locked), and let it take what it can until it waits for a lock (0.3 s
    at most)."""
    real_save, saves, started = Location.save, [], []

    def save(self, *args, **kwargs):
        saves.append(self.code)
        if self.code == "WEST" and "EAST" in saves and not started:
            started.append(_thread(start))
            wait_for_a_lock_wait(0.3)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Location, "save", save)
    return started


def test_disabling_two_locations_in_the_list_while_a_checkout_spans_them(
    admin_client, monkeypatch
):
    """Staff untick "active" on EAST and WEST and save the list while a
    checkout takes one SKU at each (levels in pk order: WEST's first). The
    save locks both locations' levels in pk order before switching either,
    so the checkout waits and is refused, not made a deadlock victim."""
    east = LocationFactory(code="EAST", active=True, priority=1)
    west = LocationFactory(code="WEST", active=True, priority=2)
    StockLevelFactory(sku="W", location=west, on_hand=5, low_threshold=0)
    StockLevelFactory(sku="E", location=east, on_hand=5, low_threshold=0)
    outcome = {}

    def checkout() -> None:
        lines = [LineRequest("E", 1), LineRequest("W", 1)]
        try:
            services.reservation_create(order_id="o-span", lines=lines)
            outcome["checkout"] = "reserved"
        except InsufficientStock:
            outcome["checkout"] = "refused"
        except Exception as exc:
            outcome["checkout"] = repr(exc)[:160]

    started = _switch_both_when_west_saves(monkeypatch, checkout)
    outcome["admin"] = _list_save(admin_client, [(east, 1, False), (west, 2, False)])
    started[0].join(10)
    assert outcome == {"admin": 302, "checkout": "refused"}, outcome
    assert set(StockLevel.objects.values_list("location_active", "reserved")) == {
        (False, 0)
    }


def test_disabling_two_locations_in_the_list_while_a_spanning_release_runs(
    admin_client, monkeypatch
):
    """The same with the release of a reservation holding a unit at each
    (storefront cancel, admin release, expiry): both go through."""
    east = LocationFactory(code="EAST", active=True, priority=1)
    west = LocationFactory(code="WEST", active=True, priority=2)
    StockLevelFactory(sku="W", location=west, on_hand=5, low_threshold=0)
    StockLevelFactory(sku="E", location=east, on_hand=5, low_threshold=0)
    held = services.reservation_create(
        order_id="o-span", lines=[LineRequest("E", 1), LineRequest("W", 1)]
    )
    outcome = {}

    def release() -> None:
        try:
            services.reservation_release(
                reservation=Reservation.objects.get(pk=held.pk)
            )
            outcome["release"] = "released"
        except Exception as exc:
            outcome["release"] = repr(exc)[:160]

    started = _switch_both_when_west_saves(monkeypatch, release)
    outcome["admin"] = _list_save(admin_client, [(east, 1, False), (west, 2, False)])
    started[0].join(10)
    assert outcome == {"admin": 302, "release": "released"}, outcome
    assert set(StockLevel.objects.values_list("location_active", "reserved")) == {
        (False, 0)
    }
