"""Holds forwarded to the ERP whatever the machines' clocks: a forward is
stamped created by the database's clock, and its claim, retry and sweep
measure by the same one, so a web process, worker or sweeper minutes off
neither gets a fresh forward swept as lost, nor hides a lost one, nor
steals a live claim (a second send of the hold to the ERP)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.clock import database_now
from integrations.testing.clocks import (
    machine_clock,
    shared_by_machines,
    whole_machine_clock,
)
from inventory import services, tasks
from inventory.models import ForwardStatus, Reservation, ReservationForward
from inventory.services import LineRequest, forwarding
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.factories import LocationFactory, StockLevelFactory
from tests.inventory.test_forwarding import RESERVE_URL, erp, rsps  # noqa: F401

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off
LEASE = 60


@pytest.fixture(autouse=True)
def _two_machines(settings, monkeypatch) -> list[int]:
    """The broker loses what the request enqueues; the sweep's are kept."""
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    settings.INVENTORY_FORWARD_SWEEP_AFTER_MINUTES = 2
    settings.INVENTORY_FORWARD_LEASE_SECONDS = LEASE
    swept: list[int] = []
    monkeypatch.setattr(forwarding, "_enqueue", lambda pk, *_: swept.append(pk))
    return swept


def _reserve_on_a_machine(capture, seconds: float, *skus: str) -> Reservation:
    lines = [LineRequest(sku, 1) for sku in skus or ("WIDGET-RED",)]
    with whole_machine_clock(seconds), capture(execute=False):
        skew = abs(timezone.now() - database_now())
        assert skew > timedelta(seconds=abs(seconds) - 5)
        return services.reservation_create(order_id="order-1", lines=lines)


@pytest.fixture
def two_levels(erp):  # noqa: F811
    StockLevelFactory(
        sku="WIDGET-BLUE",
        location=LocationFactory(code="north"),
        on_hand=10,
        source=erp,
    )


@pytest.mark.parametrize(
    "skus", [(), ("WIDGET-RED", "WIDGET-BLUE")], ids=["one", "two"]
)
def test_a_fresh_forward_from_a_slow_web_process_is_not_swept_as_lost(
    two_levels, django_capture_on_commit_callbacks, _two_machines, skus
) -> None:
    reservation = _reserve_on_a_machine(
        django_capture_on_commit_callbacks, -SKEW, *skus
    )
    assert reservation.forwards.filter(status=ForwardStatus.PENDING).count() == 1

    assert services.hold_forwards_sweep() == 0
    assert _two_machines == []


@pytest.mark.parametrize(
    "skus", [(), ("WIDGET-RED", "WIDGET-BLUE")], ids=["one", "two"]
)
def test_a_lost_forward_from_a_fast_web_process_is_swept_after_the_delay(
    two_levels, django_capture_on_commit_callbacks, _two_machines, skus
) -> None:
    reservation = _reserve_on_a_machine(django_capture_on_commit_callbacks, SKEW, *skus)

    three_minutes_on = database_now() + timedelta(minutes=3)
    assert services.hold_forwards_sweep(now=three_minutes_on) == 1
    assert _two_machines == [reservation.forwards.get().pk]


def test_a_fresh_release_from_a_slow_web_process_is_not_swept_as_lost(
    erp,  # noqa: F811
    django_capture_on_commit_callbacks,
    _two_machines,
) -> None:
    reservation = _reserve_on_a_machine(django_capture_on_commit_callbacks, 0)
    with whole_machine_clock(-SKEW), django_capture_on_commit_callbacks():
        services.reservation_release(reservation=reservation)

    assert services.hold_forwards_sweep() == 0
    assert _two_machines == []


@pytest.mark.parametrize("machine", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_a_forward_carries_the_databases_time(
    two_levels, django_capture_on_commit_callbacks, machine
) -> None:
    before = database_now()
    one = _reserve_on_a_machine(django_capture_on_commit_callbacks, machine)
    two = _reserve_on_a_machine(
        django_capture_on_commit_callbacks, machine, "WIDGET-RED", "WIDGET-BLUE"
    )
    after = database_now()

    for forward in ReservationForward.objects.filter(reservation__in=[one, two]):
        assert before <= forward.created_at <= after


def test_a_sweeper_whose_clock_is_ahead_leaves_a_fresh_forward(
    erp,  # noqa: F811
    django_capture_on_commit_callbacks,
    _two_machines,
) -> None:
    _reserve_on_a_machine(django_capture_on_commit_callbacks, 0)

    with machine_clock(SKEW):
        assert services.hold_forwards_sweep() == 0
    assert _two_machines == []


@pytest.mark.parametrize(
    ("worker", "sweeper"),
    [(-SKEW, 0), (0, SKEW)],
    ids=["worker_behind", "sweeper_ahead"],
)
def test_a_sweep_on_another_machine_leaves_a_live_claim(
    erp,  # noqa: F811
    rsps,  # noqa: F811
    django_capture_on_commit_callbacks,
    worker,
    sweeper,
) -> None:
    def answer_after_a_sweep(request):
        # While the ERP answers, another machine's sweep runs.
        with machine_clock(sweeper):
            services.hold_forwards_sweep()
        return 201, {}, json.dumps(hs.load("reservation.json"))

    rsps.add_callback("POST", RESERVE_URL, callback=answer_after_a_sweep)
    reservation = _reserve_on_a_machine(django_capture_on_commit_callbacks, 0)
    forward = reservation.forwards.get()

    with machine_clock(worker):
        assert tasks.forward_hold(forward.pk) == ForwardStatus.DONE

    forward.refresh_from_db()
    assert (forward.status, forward.attempts) == (ForwardStatus.DONE, 1)
    assert len(rsps.calls) == 1


def test_a_sweeper_whose_clock_is_behind_takes_back_an_expired_claim(
    erp,  # noqa: F811
    django_capture_on_commit_callbacks,
    _two_machines,
) -> None:
    forward = _reserve_on_a_machine(
        django_capture_on_commit_callbacks, 0
    ).forwards.get()
    # A worker claimed it a lease and a bit ago (by the database's clock) and died.
    ReservationForward.objects.filter(pk=forward.pk).update(
        status=ForwardStatus.SENDING,
        attempts=1,
        claimed_at=database_now() - timedelta(seconds=LEASE + 5),
    )

    with machine_clock(-SKEW):
        assert services.hold_forwards_sweep() == 1
    assert _two_machines == [forward.pk]
