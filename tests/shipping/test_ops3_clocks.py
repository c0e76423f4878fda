"""Shipping on the database's clock: a label buy's and a pickup booking's
creation, the sweeps that measure them, a quote's expiry, the tracking
refresh's turn and the carrier-call claims (voids, pickup cancels) are
stamped and measured by one clock, so a web process, worker or sweeper
minutes off neither sweeps a fresh buy or booking as stuck, nor refuses a
live quote, nor takes over a live claim (a second call to the carrier)."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.clock import database_now
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from shipping import services
from shipping.models import Pickup, PickupStatus, Shipment, ShipmentStatus
from shipping.providers.sandbox import SandboxShippingAdapter
from shipping.services.claims import CLAIM_LIFE
from shipping.services.labels import STUCK_PURCHASING
from shipping.services.pickups import pickups_requested_sweep
from tests.shipping.helpers import carrier, scheduled_pickup
from tests.shipping.test_labels import _quote
from tests.shipping.test_pickups import _request

pytestmark = pytest.mark.django_db

# Past each margin it is measured against (ten minutes; a day for the
# overdue report): a machine whose NTP broke.
SKEW = (STUCK_PURCHASING + timedelta(minutes=5)).total_seconds()
DAY_SKEW = timedelta(days=1, hours=1).total_seconds()


@pytest.fixture(autouse=True)
def _two_machines() -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")


def _on_a_machine(seconds: float):
    """A process on a machine ``seconds`` off, checked to be so."""
    clock = whole_machine_clock(seconds)
    clock.__enter__()
    skew = abs(timezone.now() - database_now())
    assert skew > timedelta(seconds=abs(seconds) - 5)
    return clock


def _buying(account, key: str, status: str = ShipmentStatus.PURCHASING) -> Shipment:
    return Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="sandbox",
        service_code="SBX_GROUND",
        amount=840,
        currency="USD",
        idempotency_key=key,
        status=status,
    )


def _made_on_a_machine(seconds: float, make):
    clock = _on_a_machine(seconds)
    try:
        return make()
    finally:
        clock.__exit__(None, None, None)


def _sweep_on_a_machine(seconds: float, sweep, **kwargs):
    clock = _on_a_machine(seconds)
    try:
        return sweep(**kwargs)
    finally:
        clock.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("maker", "sweeper"), [(-SKEW, 0), (0, SKEW)], ids=["slow-web", "fast-sweeper"]
)
def test_a_fresh_label_buy_is_not_swept_as_stuck(maker, sweeper) -> None:
    account = carrier("post")
    buying = _made_on_a_machine(maker, lambda: _buying(account, "k-1"))

    swept = _sweep_on_a_machine(sweeper, services.shipments_reconcile_unknown)

    assert swept == []
    buying.refresh_from_db()
    assert buying.status == ShipmentStatus.PURCHASING
    assert buying.reconciled_at is None


def test_a_stuck_label_buy_from_a_fast_web_process_is_swept_on_time() -> None:
    account = carrier("post")
    buying = _made_on_a_machine(SKEW, lambda: _buying(account, "k-1"))
    Shipment.objects.filter(pk=buying.pk).update(
        created_at=database_now() - STUCK_PURCHASING - timedelta(minutes=1)
    )

    swept = services.shipments_reconcile_unknown()

    assert [s.pk for s in swept] == [buying.pk]


@pytest.mark.parametrize(
    ("maker", "sweeper"),
    [(-DAY_SKEW, 0), (0, DAY_SKEW)],
    ids=["slow-web", "fast-sweeper"],
)
def test_a_fresh_unknown_label_is_not_reported_overdue(caplog, maker, sweeper) -> None:
    account = carrier("post")
    unknown = _made_on_a_machine(
        maker, lambda: _buying(account, "k-1", ShipmentStatus.UNKNOWN)
    )

    with caplog.at_level(logging.ERROR, logger="shipping"):
        _sweep_on_a_machine(sweeper, services.shipments_reconcile_unknown)

    assert not [r for r in caplog.records if "over a day" in r.getMessage()]
    unknown.refresh_from_db()
    assert unknown.overdue_reported_at is None


def test_a_label_buy_carries_the_databases_time() -> None:
    account = carrier("post")
    before = database_now()
    one = _made_on_a_machine(-SKEW, lambda: _buying(account, "k-1"))
    two = _made_on_a_machine(SKEW, lambda: _buying(account, "k-2"))
    after = database_now()

    for shipment in Shipment.objects.filter(pk__in=[one.pk, two.pk]):
        assert before <= shipment.created_at <= after


@pytest.mark.parametrize(
    ("maker", "sweeper"), [(-SKEW, 0), (0, SKEW)], ids=["slow-web", "fast-sweeper"]
)
def test_a_fresh_pickup_booking_is_not_swept_as_stuck(maker, sweeper) -> None:
    account = carrier("post")
    booking = _made_on_a_machine(
        maker,
        lambda: scheduled_pickup(account, "CONF-1", status=PickupStatus.REQUESTED),
    )

    moved = _sweep_on_a_machine(sweeper, pickups_requested_sweep)

    assert moved == 0
    booking.refresh_from_db()
    assert booking.status == PickupStatus.REQUESTED


def test_a_pickup_booking_carries_the_databases_time() -> None:
    account = carrier("post")
    before = database_now()
    pickup = _made_on_a_machine(-SKEW, lambda: scheduled_pickup(account, "CONF-1"))

    assert Pickup.objects.get(pk=pickup.pk).created_at >= before


def test_a_live_quote_is_bought_by_a_web_process_whose_clock_is_ahead() -> None:
    quote = _quote(carrier("post"), expires_at=database_now() + timedelta(minutes=5))

    shipment = _made_on_a_machine(
        SKEW, lambda: services.shipment_buy(quote_id=quote.public_id)
    )

    assert shipment.status == ShipmentStatus.PURCHASED


def test_an_expired_quote_is_deleted_by_the_databases_clock() -> None:
    quote = _quote(carrier("post"), expires_at=database_now() - timedelta(hours=2))

    deleted = _sweep_on_a_machine(
        -DAY_SKEW, services.quotes_expired_delete, older_than=timedelta(hours=1)
    )

    assert deleted == 1
    assert not type(quote).objects.filter(pk=quote.pk).exists()


def test_a_shipment_tracked_by_a_slow_worker_is_not_due_again_at_once() -> None:
    quote = _quote(carrier("post"), expires_at=database_now() + timedelta(minutes=5))
    behind = -timedelta(hours=2).total_seconds()

    def buy_and_track() -> Shipment:
        # The sandbox carrier's numbers carry its clock: bought on this one.
        shipment = services.shipment_buy(quote_id=quote.public_id)
        services.shipment_tracking_refresh(shipment=shipment)
        return shipment

    shipment = _made_on_a_machine(behind, buy_and_track)

    assert shipment.last_tracked_at is not None
    assert shipment.pk not in [s.pk for s in services.shipments_due_for_tracking()]


def test_a_pickup_cancel_claimed_by_a_slow_worker_is_not_taken_over(
    monkeypatch,
) -> None:
    pickup = services.pickup_schedule(account=carrier("post"), request=_request())
    behind = (CLAIM_LIFE + timedelta(minutes=5)).total_seconds()
    real = SandboxShippingAdapter.carrier_cancel_pickup
    second: list[Exception] = []
    asked: list[str] = []

    def meanwhile(self, request):
        # While the slow worker's cancel is at the carrier, a web process
        # on time asks for one too: refused, not a second cancel sent.
        if asked:
            return real(self, request)
        asked.append(request.confirmation_number)
        with whole_machine_clock(0):
            try:
                services.pickup_cancel(pickup=Pickup.objects.get(pk=pickup.pk))
            except Exception as error:
                second.append(error)
        return real(self, request)

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", meanwhile)

    cancelled = _made_on_a_machine(
        -behind, lambda: services.pickup_cancel(pickup=pickup)
    )

    assert cancelled.status == PickupStatus.CANCELLED
    assert [getattr(e, "code", "") for e in second] == ["cancel_in_progress"]


def test_a_void_claimed_by_a_slow_worker_is_not_taken_over(monkeypatch) -> None:
    quote = _quote(carrier("post"), expires_at=database_now() + timedelta(minutes=5))
    behind = (CLAIM_LIFE + timedelta(minutes=5)).total_seconds()
    # The sandbox carrier's numbers carry its clock: bought on that machine.
    shipment = _made_on_a_machine(
        -behind, lambda: services.shipment_buy(quote_id=quote.public_id)
    )
    real = SandboxShippingAdapter.carrier_void_label
    second: list[Exception] = []
    calls: list[str] = []

    def meanwhile(self, request):
        # While the slow worker's void is at the carrier, a web process on
        # time asks for one too: refused, not a second void sent.
        calls.append(request.carrier_shipment_id)
        if len(calls) == 1:
            with whole_machine_clock(0):
                try:
                    services.shipment_void(
                        shipment=Shipment.objects.get(pk=shipment.pk)
                    )
                except Exception as error:
                    second.append(error)
        return real(self, request)

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_void_label", meanwhile)

    voided = _made_on_a_machine(
        -behind, lambda: services.shipment_void(shipment=shipment)
    )

    assert voided.status == ShipmentStatus.VOIDED
    assert len(calls) == 1
    assert [type(e).__name__ for e in second] == ["InvalidState"]
