"""Reservations through the services: all or nothing, priority allocation,
expiry at read time and by the schedule, idempotent release and confirm,
confirmation by ``payment.captured``, and state events."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.events import event_delivery_run, event_emit
from integrations.models import Event
from inventory import services
from inventory.models import Reservation, ReservationStatus, StockLevel
from inventory.services import InsufficientStock, InvalidReservation, LineRequest
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


def _reserve(*lines: tuple[str, int], **kwargs) -> Reservation:
    return services.reservation_create(
        order_id=kwargs.pop("order_id", "order-1"),
        lines=[LineRequest(sku, qty) for sku, qty in lines],
        **kwargs,
    )


def _level(sku: str, code: str = "MAIN") -> StockLevel:
    return StockLevel.objects.get(sku=sku, location__code=code)


def test_all_or_nothing_names_the_short_sku():
    StockLevelFactory(sku="A", on_hand=5)
    StockLevelFactory(sku="B", on_hand=1)
    with pytest.raises(InsufficientStock) as info:
        _reserve(("A", 3), ("B", 2))
    assert (info.value.sku, info.value.available, info.value.requested) == ("B", 1, 2)
    assert _level("A").reserved == 0 and _level("B").reserved == 0
    assert not Reservation.objects.exists()


def test_allocates_by_location_priority_and_splits():
    first = LocationFactory(code="NEAR", priority=1)
    second = LocationFactory(code="FAR", priority=5)
    StockLevelFactory(sku="A", location=second, on_hand=10)
    StockLevelFactory(sku="A", location=first, on_hand=3)
    reservation = _reserve(("A", 5))
    taken = {line.location.code: line.quantity for line in reservation.lines.all()}
    assert taken == {"NEAR": 3, "FAR": 2}
    assert _level("A", "NEAR").reserved == 3 and _level("A", "FAR").reserved == 2


def test_pinned_location_only_uses_it():
    near = LocationFactory(code="NEAR", priority=1)
    StockLevelFactory(sku="A", location=near, on_hand=10)
    StockLevelFactory(sku="A", on_hand=1)
    with pytest.raises(InsufficientStock) as info:
        services.reservation_create(
            order_id="o", lines=[LineRequest("A", 2, location_code="MAIN")]
        )
    assert info.value.available == 1


def test_inactive_location_is_not_allocated():
    closed = LocationFactory(code="CLOSED", priority=1, active=False)
    StockLevelFactory(sku="A", location=closed, on_hand=10)
    with pytest.raises(InsufficientStock):
        _reserve(("A", 1))


def test_expired_reservation_stops_counting_before_release():
    StockLevelFactory(sku="A", on_hand=10)
    now = timezone.now()
    old = _reserve(("A", 8), ttl_seconds=60, now=now)
    with pytest.raises(InsufficientStock):
        _reserve(("A", 5), now=now + timedelta(seconds=59))
    later = now + timedelta(seconds=61)
    _reserve(("A", 5), now=later)
    old.refresh_from_db()
    assert old.status == ReservationStatus.ACTIVE  # not yet released for good
    assert services.reservations_expire(now=later) == 1
    assert services.reservations_expire(now=later) == 0
    old.refresh_from_db()
    assert old.status == ReservationStatus.EXPIRED
    assert _level("A").reserved == 5


def test_ttl_bounds_and_bad_lines_are_refused():
    StockLevelFactory(sku="A")
    with pytest.raises(InvalidReservation) as info:
        _reserve(("A", 1), ttl_seconds=5)
    assert info.value.param == "ttl_seconds"
    with pytest.raises(InvalidReservation):
        _reserve(("A", 0))
    with pytest.raises(InvalidReservation):
        services.reservation_create(order_id="o", lines=[])


def test_release_is_idempotent():
    StockLevelFactory(sku="A", on_hand=4)
    reservation = _reserve(("A", 3))
    services.reservation_release(reservation=reservation)
    services.reservation_release(reservation=reservation)
    assert reservation.status == ReservationStatus.RELEASED
    assert _level("A").reserved == 0 and _level("A").on_hand == 4


def test_confirm_moves_units_out_of_on_hand_once():
    StockLevelFactory(sku="A", on_hand=4)
    reservation = _reserve(("A", 3))
    services.reservation_confirm(reservation=reservation)
    services.reservation_confirm(reservation=reservation)
    level = _level("A")
    assert (level.on_hand, level.reserved) == (1, 0)
    with pytest.raises(services.InvalidState) as info:
        services.reservation_release(reservation=reservation)
    assert info.value.code == "reservation_confirmed"


def test_released_reservation_cannot_be_confirmed():
    StockLevelFactory(sku="A", on_hand=4)
    reservation = _reserve(("A", 3))
    services.reservation_release(reservation=reservation)
    with pytest.raises(services.InvalidState):
        services.reservation_confirm(reservation=reservation)
    assert _level("A").on_hand == 4


def test_payment_captured_confirms_the_orders_reservations(monkeypatch):
    from integrations import events

    monkeypatch.setattr(events, "_enqueue", lambda *args, **kwargs: None)
    StockLevelFactory(sku="A", on_hand=4)
    reservation = _reserve(("A", 2), order_id="order-77")
    other = _reserve(("A", 1), order_id="order-78")
    event = event_emit(
        name="payment.captured", payload={"order_id": "order-77", "amount": 100}
    )
    delivery = event.deliveries.get(
        subscriber="inventory.services.reservations_confirm_for_order"
    )
    assert event_delivery_run(delivery_id=delivery.pk) == "delivered"
    reservation.refresh_from_db()
    other.refresh_from_db()
    assert reservation.status == ReservationStatus.CONFIRMED
    assert other.status == ReservationStatus.ACTIVE
    assert (_level("A").on_hand, _level("A").reserved) == (2, 1)
    # Delivered again (at least once): nothing more moves.
    services.reservations_confirm_for_order(event)
    assert (_level("A").on_hand, _level("A").reserved) == (2, 1)


def test_level_changed_only_when_the_state_changes():
    StockLevelFactory(sku="A", on_hand=10, low_threshold=3, state="in_stock")
    _reserve(("A", 1))
    _reserve(("A", 1))
    assert not Event.objects.filter(name=services.LEVEL_CHANGED).exists()
    last = _reserve(("A", 6))  # 2 left: low
    changed = Event.objects.filter(name=services.LEVEL_CHANGED)
    assert [e.payload["state"] for e in changed] == ["low"]
    assert changed[0].payload["available"] == 2
    services.reservation_release(reservation=last)
    states = list(changed.order_by("pk").values_list("payload__state", flat=True))
    assert states == ["low", "in_stock"]


def test_a_level_that_moved_under_the_fast_path_falls_back_to_locks(monkeypatch):
    from inventory.services import fast, reservations

    StockLevelFactory(sku="A", on_hand=5)

    def moved(plan, now):
        fast.fast_take(plan, now)  # takes the units, then finds one stale
        raise fast.StaleLevel(plan[0][0].pk)

    monkeypatch.setattr(reservations, "fast_take", moved)
    # Past the one-statement path (PostgreSQL), which would take these units.
    monkeypatch.setattr(reservations, "_one_statement", lambda *args: None)
    reservation = _reserve(("A", 2))
    # The fast attempt rolled back whole: one reservation, two units held.
    assert Reservation.objects.get() == reservation
    assert reservation.lines.get().quantity == 2
    assert _level("A").reserved == 2


def test_a_one_line_reservation_is_stored_whole_without_an_event():
    StockLevelFactory(sku="A", on_hand=10, low_threshold=2)
    now = timezone.now()
    reservation = _reserve(("A", 3), now=now, ttl_seconds=600)
    stored = Reservation.objects.get()
    assert stored == reservation and stored.public_id == reservation.public_id
    assert reservation.public_id.startswith("res_")
    assert (stored.status, stored.order_id) == ("active", "order-1")
    assert (stored.created_at, stored.expires_at) == (
        now,
        now + timedelta(seconds=600),
    )
    line = stored.lines.get()
    assert (line.sku, line.location.code, line.quantity) == ("A", "MAIN", 3)
    assert line.stock_level == _level("A")
    assert (_level("A").reserved, _level("A").state) == (3, "in_stock")
    assert not Event.objects.filter(name=services.LEVEL_CHANGED).exists()
    services.reservation_release(reservation=reservation)
    assert _level("A").reserved == 0


@pytest.mark.postgres
def test_units_taken_after_the_plan_was_read_are_not_reserved_twice(monkeypatch):
    from inventory.services import reservations

    StockLevelFactory(sku="A", on_hand=5)
    real = reservations.fast_reserve_one

    def raced(**kwargs):
        # Another checkout takes 4 units between the plan and the statement.
        StockLevel.objects.filter(sku="A").update(reserved=4)
        return real(**kwargs)

    monkeypatch.setattr(reservations, "fast_reserve_one", raced)
    with pytest.raises(InsufficientStock) as refused:
        _reserve(("A", 3))
    assert (refused.value.requested, refused.value.available) == (3, 1)
    assert not Reservation.objects.exists()
    assert _level("A").reserved == 4


def test_release_confirm_and_expiry_at_a_disabled_location_give_units_back():
    """Units held before staff disabled the location are still released,
    confirmed or expired there (only taking new ones checks the flag), and
    are sellable once it is enabled again."""
    east = LocationFactory(code="EAST", active=True, priority=1)
    StockLevelFactory(sku="A", location=east, on_hand=10, low_threshold=0)
    released = services.reservation_create(order_id="o-1", lines=[LineRequest("A", 2)])
    confirmed = services.reservation_create(order_id="o-2", lines=[LineRequest("A", 3)])
    services.reservation_create(
        order_id="o-3", lines=[LineRequest("A", 4)], ttl_seconds=60
    )
    services.location_active_set(location_id=east.pk, active=False)
    services.reservation_release(reservation=Reservation.objects.get(pk=released.pk))
    services.reservation_confirm(reservation=Reservation.objects.get(pk=confirmed.pk))
    services.reservations_expire(now=timezone.now() + timedelta(hours=1))
    level = StockLevel.objects.get(sku="A")
    assert (level.on_hand, level.reserved) == (7, 0)
    services.location_active_set(location_id=east.pk, active=True)
    services.reservation_create(order_id="o-4", lines=[LineRequest("A", 7)])
