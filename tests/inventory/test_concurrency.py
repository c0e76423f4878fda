"""The "done when" races, on PostgreSQL with real connections: checkouts
racing for the last units never oversell, and multi-line reservations in
opposite SKU order never deadlock."""

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from integrations import events as events_module
from inventory import services
from inventory.models import (
    Location,
    Reservation,
    ReservationLine,
    StockLevel,
    SyncRun,
)
from inventory.providers.base import StockLevelRecord
from inventory.services import InsufficientStock, LineRequest, apply_pg
from inventory.services import levels as levels_module
from inventory.services import reservations as reservations_module
from inventory.services import sync as sync_module
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import LocationFactory, StockLevelFactory
from tests.pg import on_a_lock_wait, wait_for_a_lock_wait

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# 50 reservations from 50 connections released at once (PostgreSQL's default
# max_connections is 100; nothing else uses the test database meanwhile).
WORKERS = 50


def _race(attempts: list[Callable[[], object]]) -> list[object]:
    """Run the attempts from WORKERS threads released together; return each
    one's result or the exception it raised."""
    gate = threading.Barrier(min(WORKERS, len(attempts)))
    started = threading.local()

    def run(attempt: Callable[[], object]) -> object:
        if not getattr(started, "done", False):
            started.done = True
            gate.wait(timeout=30)
        try:
            return attempt()
        except Exception as exc:  # the outcome under test
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(run, attempts))


def _one(sku: str, order: int) -> Callable[[], object]:
    return lambda: services.reservation_create(
        order_id=f"order-{order}", lines=[LineRequest(sku, 1)]
    )


def test_fifty_checkouts_for_ten_units_reserve_exactly_ten():
    StockLevelFactory(sku="HOT", on_hand=10)
    results = _race([_one("HOT", n) for n in range(50)])
    reserved = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, InsufficientStock)]
    assert len(reserved) == 10 and len(refused) == 40, results
    level = StockLevel.objects.get(sku="HOT")
    assert (level.on_hand, level.reserved, level.state) == (10, 10, "out_of_stock")


def test_opposite_order_multi_line_reservations_do_not_deadlock():
    StockLevelFactory(sku="A", on_hand=30)
    StockLevelFactory(sku="B", on_hand=30)

    def both(order: int) -> Callable[[], object]:
        pair = [LineRequest("A", 1), LineRequest("B", 1)]
        lines = pair if order % 2 else pair[::-1]
        return lambda: services.reservation_create(
            order_id=f"order-{order}", lines=lines
        )

    results = _race([both(n) for n in range(40)])
    errors = [r for r in results if isinstance(r, Exception)]
    refused = [r for r in errors if isinstance(r, InsufficientStock)]
    assert len(errors) == len(refused) == 10, errors  # no deadlock, no 500
    assert {lv.reserved for lv in StockLevel.objects.all()} == {30}


def test_racing_release_and_confirm_move_stock_once():
    StockLevelFactory(sku="A", on_hand=5)
    reservation = services.reservation_create(order_id="o", lines=[LineRequest("A", 2)])

    def release() -> object:
        return services.reservation_release(
            reservation=Reservation.objects.get(pk=reservation.pk)
        )

    def confirm() -> object:
        return services.reservation_confirm(
            reservation=Reservation.objects.get(pk=reservation.pk)
        )

    results = _race([release, confirm] * 4)
    level = StockLevel.objects.get(sku="A")
    assert level.reserved == 0
    reservation.refresh_from_db()
    expected_on_hand = 3 if reservation.status == "confirmed" else 5
    assert level.on_hand == expected_on_hand, results


def test_sync_lowering_on_hand_during_checkouts_keeps_every_reservation():
    from django.utils import timezone

    from inventory.providers.base import StockLevelRecord

    StockLevelFactory(sku="A", on_hand=30)

    def sync() -> object:
        return services.stock_levels_apply(
            account=None,
            records=[StockLevelRecord("A", "MAIN", 5, timezone.now())],
            now=timezone.now(),
        )

    results = _race([_one("A", n) for n in range(20)] + [sync])
    reserved = [r for r in results if isinstance(r, Reservation)]
    assert not [
        r
        for r in results
        if isinstance(r, Exception) and not isinstance(r, InsufficientStock)
    ], results
    level = StockLevel.objects.get(sku="A")
    assert level.on_hand == 5
    assert level.reserved == len(reserved) >= 5
    assert level.state == ("oversold" if len(reserved) > 5 else "out_of_stock")


def test_two_syncs_of_one_account_started_at_once_make_one_run(monkeypatch):
    """The 15-minute schedule and staff's "Sync now" (or two workers) start a
    sync of one account together: one run starts, the other is refused."""
    erp = ProviderAccountFactory(kind="inventory", slug="erp-race")
    gate = threading.Barrier(2)
    real = sync_module.registry.get_adapter

    def slow_adapter(account):
        # Between the "already under way?" read and the insert, as a busy
        # machine may pause any request.
        gate.wait(timeout=10)
        return real(account)

    monkeypatch.setattr(sync_module.registry, "get_adapter", slow_adapter)

    def start():
        try:
            return services.sync_run_start(account=erp)
        except services.InventoryError as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: start(), range(2)))
    started = SyncRun.objects.filter(account=erp, status="queued").count()
    assert started == 1, f"{started} runs of one account started at once: {results}"
    refused = [r for r in results if isinstance(r, services.InventoryError)]
    assert [r.code for r in refused] == ["sync_running"]


def test_two_drafts_at_once_make_one_purchase_order(monkeypatch):
    """Staff's "Draft purchase orders" action and the command at the same
    moment: one order for the low SKU, not two."""
    from inventory.models import PurchaseOrder
    from inventory.services import purchasing
    from tests.inventory.factories import ReorderPointFactory

    StockLevelFactory(sku="LOW", on_hand=0)
    ReorderPointFactory(sku="LOW", reorder_quantity=9)
    gate = threading.Barrier(2)
    real = purchasing.available_by_sku

    def both_read(skus, now):
        # Both drafts read before either writes; with the lock the second
        # waits on it, the barrier breaks and the first goes on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait(timeout=3)
        return real(skus, now)

    monkeypatch.setattr(purchasing, "available_by_sku", both_read)

    def draft():
        try:
            return services.purchase_orders_draft()
        finally:
            connections.close_all()

    with (
        on_a_lock_wait(gate.abort),
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        drafted = list(pool.map(lambda _: draft(), range(2)))

    assert PurchaseOrder.objects.count() == 1
    assert sorted(len(orders) for orders in drafted) == [0, 1]


def test_disabling_a_location_while_a_sync_page_adds_a_level_there(monkeypatch):
    """location_active_set locks the location FOR UPDATE, then its levels. A
    sync page (or a reservation line) locks a level there, then inserts a
    row referencing the location: the foreign key check takes KEY SHARE on
    the location, which FOR UPDATE blocks. Each waits for the other. The
    page share-locks its locations first now: the switch waits for it, then
    writes the flag of the level it created too."""
    location = Location.objects.create(code="EAST", name="East", active=True)
    StockLevel.objects.create(sku="X", location=location, on_hand=5)
    locked, outcome = threading.Event(), {}
    real = apply_pg._lock_existing

    def lock_then_pause(keys):
        found = real(keys)
        locked.set()
        wait_for_a_lock_wait(1.0)  # staff's switch takes the location meanwhile
        return found

    monkeypatch.setattr(apply_pg, "_lock_existing", lock_then_pause)
    now = timezone.now()

    def sync_page():
        try:
            services.stock_levels_apply(
                account=None,
                records=[
                    StockLevelRecord("X", "EAST", 4, now),
                    StockLevelRecord("Y", "EAST", 9, now),  # new at EAST
                ],
                now=now,
            )
            outcome["sync"] = "ok"
        except Exception as exc:
            outcome["sync"] = exc
        finally:
            connections.close_all()

    def switch():
        locked.wait(10)
        try:
            services.location_active_set(location_id=location.pk, active=False)
            outcome["switch"] = "ok"
        except Exception as exc:
            outcome["switch"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sync_page), threading.Thread(target=switch)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome == {"sync": "ok", "switch": "ok"}, outcome
    assert set(StockLevel.objects.values_list("location_active", flat=True)) == {False}


@pytest.mark.parametrize("skus", [("W1",), ("W1", "W2")], ids=["one", "two"])
def test_a_checkout_racing_a_disable_takes_nothing_at_the_disabled_location(
    monkeypatch, skus
):
    """The checkout reads the location's levels as active; staff disable it
    before the take. The take (one statement, or the fast path's updates)
    must not hold units at the now disabled location."""
    location = LocationFactory(code="WEST", active=True)
    for sku in skus:
        StockLevelFactory(sku=sku, location=location, on_hand=50, low_threshold=0)
    real, switched = reservations_module._allocate, []

    def allocate_then_disable(*args):
        plan = real(*args)
        if not switched:
            switched.append(True)
            thread = threading.Thread(target=_disable, args=(location.pk,))
            thread.start()
            thread.join(10)
        return plan

    monkeypatch.setattr(reservations_module, "_allocate", allocate_then_disable)

    with pytest.raises(InsufficientStock):
        services.reservation_create(
            order_id="o-west", lines=[LineRequest(sku, 1) for sku in skus]
        )
    assert not Location.objects.get(pk=location.pk).active
    assert list(StockLevel.objects.values_list("reserved", flat=True)) == [0] * len(
        skus
    )


def _disable(location_id: int) -> None:
    try:
        services.location_active_set(location_id=location_id, active=False)
    finally:
        connections.close_all()


@pytest.mark.parametrize("skus", [("V1",), ("V1", "V2")], ids=["one", "two"])
def test_a_checkout_waiting_for_a_disable_takes_nothing_once_it_commits(
    monkeypatch, skus
):
    """Staff's Disable holds the location and its levels while the checkout
    reads them as active and goes to take units: it waits for the switch
    and then sees the location disabled."""
    location = LocationFactory(code="NORTH", active=True)
    for sku in skus:
        StockLevelFactory(sku=sku, location=location, on_hand=50, low_threshold=0)
    holding = threading.Event()
    real = levels_module.expired_holds

    def hold_the_switch(level_ids, now):
        holding.set()
        wait_for_a_lock_wait(1.0)  # the checkout reads and tries its take meanwhile
        return real(level_ids, now)

    monkeypatch.setattr(levels_module, "expired_holds", hold_the_switch)
    switch = threading.Thread(target=_disable, args=(location.pk,))
    switch.start()
    holding.wait(10)
    try:
        with pytest.raises(InsufficientStock):
            services.reservation_create(
                order_id="o-north", lines=[LineRequest(sku, 1) for sku in skus]
            )
    finally:
        switch.join(10)
    assert list(StockLevel.objects.values_list("reserved", flat=True)) == [0] * len(
        skus
    )


def test_a_level_a_sync_page_creates_during_a_disable_is_created_disabled(
    monkeypatch,
):
    """Staff's Disable has written the flag on the location's levels and not
    committed when a sync page creates a level there: the page waits for the
    switch (it share-locks its locations first) and creates the level with
    the flag as committed, so no checkout can take units from it."""
    location = LocationFactory(code="SOUTH", active=True)
    StockLevelFactory(sku="S1", location=location, on_hand=5)
    holding = threading.Event()
    real = levels_module.expired_holds

    def hold_the_switch(level_ids, now):
        holding.set()
        wait_for_a_lock_wait(1.0)  # the sync page runs meanwhile
        return real(level_ids, now)

    monkeypatch.setattr(levels_module, "expired_holds", hold_the_switch)
    switch = threading.Thread(target=_disable, args=(location.pk,))
    switch.start()
    holding.wait(10)
    now = timezone.now()
    try:
        services.stock_levels_apply(
            account=None, records=[StockLevelRecord("S2", "SOUTH", 9, now)], now=now
        )
    finally:
        switch.join(10)
    assert not Location.objects.get(pk=location.pk).active
    assert dict(StockLevel.objects.values_list("sku", "location_active")) == {
        "S1": False,
        "S2": False,
    }


def test_a_level_a_sync_page_creates_during_an_enable_is_created_enabled(
    monkeypatch,
):
    """The other way round: the page holds its location (shared) with the
    level to create when staff press Enable; the switch waits for the page,
    then flags every level there, the new one too, and it sells."""
    location = LocationFactory(code="EAST", active=False)
    StockLevelFactory(sku="A", location=location, on_hand=10, low_threshold=0)
    real, locked = apply_pg._lock_existing, threading.Event()

    def pause(keys):
        found = real(keys)
        locked.set()
        wait_for_a_lock_wait(1.0)  # staff press Enable meanwhile
        return found

    monkeypatch.setattr(apply_pg, "_lock_existing", pause)
    now = timezone.now()

    def page() -> None:
        try:
            services.stock_levels_apply(
                account=None, records=[StockLevelRecord("B", "EAST", 9, now)], now=now
            )
        finally:
            connections.close_all()

    thread = threading.Thread(target=page)
    thread.start()
    locked.wait(10)
    try:
        services.location_active_set(location_id=location.pk, active=True)
    finally:
        thread.join(10)
    assert dict(StockLevel.objects.values_list("sku", "location_active")) == {
        "A": True,
        "B": True,
    }
    services.reservation_create(order_id="o", lines=[LineRequest("B", 9)])


# Refuses, at its commit, a reservation line committed at an inactive
# location: what the flag on the levels exists to prevent.
NO_LINE_AT_AN_INACTIVE_LOCATION = """
CREATE OR REPLACE FUNCTION test_no_line_at_an_inactive_location() RETURNS trigger
AS $$ BEGIN
  IF NOT (SELECT active FROM inventory_location WHERE id = NEW.location_id) THEN
    RAISE EXCEPTION 'line % committed at an inactive location', NEW.id;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER test_no_line_at_an_inactive_location
  AFTER INSERT ON inventory_reservationline DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION test_no_line_at_an_inactive_location();
"""
DROP_THE_TRIGGER = (
    "DROP TRIGGER test_no_line_at_an_inactive_location ON inventory_reservationline;"
    "DROP FUNCTION test_no_line_at_an_inactive_location();"
)


@pytest.fixture
def no_line_at_an_inactive_location() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute(NO_LINE_AT_AN_INACTIVE_LOCATION)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(DROP_THE_TRIGGER)


def _for_two_seconds(work: Callable[[random.Random], None], failures: list) -> Callable:
    stop = time.monotonic() + 2

    def run() -> None:
        rnd = random.Random(threading.get_ident())
        try:
            while time.monotonic() < stop:
                try:
                    work(rnd)
                except InsufficientStock:
                    pass
                except Exception as exc:  # what the test looks for
                    failures.append(repr(exc)[:300])
        finally:
            connections.close_all()

    return run


def test_checkouts_releases_switches_and_sync_pages_at_once(
    monkeypatch, no_line_at_an_inactive_location
):
    """Two seconds of everything at two locations: checkouts (some released
    at once), Disable / Enable one at a time and both in one transaction as
    the location list saves them (in either list order), sync pages creating
    levels. No deadlock or other error, no line committed at an inactive
    location, every level's flag its location's, ``reserved`` its holds."""
    monkeypatch.setattr(events_module, "_enqueue", lambda *args, **kwargs: None)
    east = LocationFactory(code="EAST", active=True, priority=1)
    west = LocationFactory(code="WEST", active=True, priority=2)
    skus = [f"S{n}" for n in range(6)]
    for sku in skus:
        StockLevelFactory(sku=sku, location=east, on_hand=1000, low_threshold=5)
        StockLevelFactory(sku=sku, location=west, on_hand=1000, low_threshold=5)

    def checkout(rnd: random.Random) -> None:
        where = rnd.choice(["", "", "EAST"])
        lines = [
            LineRequest(sku, rnd.randint(1, 3), where)
            for sku in rnd.sample(skus, rnd.choice([1, 1, 2, 3]))
        ]
        held = services.reservation_create(order_id=f"o{rnd.random()}", lines=lines)
        if rnd.random() < 0.5:
            services.reservation_release(
                reservation=Reservation.objects.get(pk=held.pk)
            )

    def switch(rnd: random.Random) -> None:
        for location in (east, west):
            services.location_active_set(
                location_id=location.pk, active=rnd.random() < 0.5
            )

    def list_save(rnd: random.Random) -> None:
        wanted = {east.pk: rnd.random() < 0.5, west.pk: rnd.random() < 0.5}
        with transaction.atomic():
            services.locations_lock(wanted)
            for pk in rnd.sample(list(wanted), 2):
                services.location_active_set(location_id=pk, active=wanted[pk])

    def sync(rnd: random.Random) -> None:
        now = timezone.now()
        records = [
            StockLevelRecord(sku, rnd.choice(["EAST", "WEST"]), 1000, now)
            for sku in skus
        ] + [
            StockLevelRecord(f"N{rnd.randint(0, 30)}", code, rnd.randint(0, 60), now)
            for code in ("EAST", "WEST")
        ]
        services.stock_levels_apply(account=None, records=records, now=now)

    failures: list[str] = []
    works = [checkout] * 10 + [switch, list_save, sync, sync]
    threads = [threading.Thread(target=_for_two_seconds(w, failures)) for w in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures[:5]
    for location in Location.objects.all():
        flags = set(
            StockLevel.objects.filter(location=location).values_list(
                "location_active", flat=True
            )
        )
        assert flags <= {location.active}, (location.code, location.active, flags)
    held = dict(
        ReservationLine.objects.filter(reservation__status="active")
        .values("stock_level")
        .annotate(units=Sum("quantity"))
        .values_list("stock_level", "units")
    )
    for level in StockLevel.objects.all():
        assert level.reserved == held.get(level.pk, 0), level
