"""The "done when" races, on PostgreSQL with real connections: checkouts
racing for the last units never oversell, and multi-line reservations in
opposite SKU order never deadlock."""

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from inventory import services
from inventory.models import Reservation, StockLevel, SyncRun
from inventory.services import InsufficientStock, LineRequest
from inventory.services import sync as sync_module
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import StockLevelFactory

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

    with ThreadPoolExecutor(max_workers=2) as pool:
        drafted = list(pool.map(lambda _: draft(), range(2)))

    assert PurchaseOrder.objects.count() == 1
    assert sorted(len(orders) for orders in drafted) == [0, 1]
