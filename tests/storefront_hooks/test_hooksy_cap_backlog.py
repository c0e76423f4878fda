"""A backlog on an endpoint at its in-flight cap waits its turn: a row the
cap refused is due again after the rows ahead of it could go through the
cap's slots (rows ahead x slot time / cap, bounded), not a second later, so
the scheduler and the sweep do not run every held-back row again three times
a minute (each run a task and a worker's wait for a slot). Simulated time:
the receiver's slots are held, the scheduler runs every 30 s, the sweep every
minute, each task at its simulated time."""

import ast
import contextlib
import time
from datetime import timedelta

import pytest
from django_q.models import Schedule

from integrations.clock import database_now
from integrations.models import DeliveryStatus
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import sweep
from storefront_hooks.services.backlog import CAP_WAIT_MAX_SECONDS
from storefront_hooks.services.queue import schedule_name
from tests.storefront_hooks.cap_setup import made_row_id, slots_taken

pytestmark = pytest.mark.django_db(transaction=True)

CAP = 2
SLOW = 20.0  # seconds the deliveries in flight have been waiting so far
BACKLOG = 12
MINUTES = 4


@pytest.fixture
def swept(monkeypatch) -> list[int]:
    found: list[int] = []
    monkeypatch.setattr(sweep, "enqueue", found.append)
    return found


@pytest.fixture
def slow_endpoint(settings, make_endpoint):
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 59.0  # a 60 s deadline
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    settings.STOREFRONT_WEBHOOK_LEASE_SECONDS = 3600  # the simulation's span
    return make_endpoint()[0]


@contextlib.contextmanager
def _slots_held(endpoint, since):
    """``CAP`` deliveries in flight to a slow receiver since ``since``: their
    rows claimed, the cap's slots taken."""
    for _ in range(CAP):
        made_row_id(
            endpoint, status=DeliveryStatus.DELIVERING, claimed_at=since, attempts=1
        )
    with slots_taken(endpoint, CAP):
        yield


def _due_schedules(now) -> list[int]:
    due = Schedule.objects.filter(
        name__startswith=schedule_name(0)[:-1], next_run__lte=now
    )
    ids = [ast.literal_eval(s.args)[0] for s in due]
    due.delete()  # run once
    return ids


def _simulate(backlog: list[int], swept: list[int], start) -> tuple[int, float]:
    """Task runs for the backlog and the worker time they took."""
    runs, busy = 0, 0.0
    for tick in range(0, MINUTES * 60 + 1, 30):
        now = start + timedelta(seconds=tick)
        todo = list(backlog) if tick == 0 else _due_schedules(now)
        if tick and tick % 60 == 0:
            swept.clear()
            services.deliveries_sweep(now=now)
            todo += swept
        for delivery_id in todo:
            began = time.monotonic()
            status = services.delivery_send(delivery_id=delivery_id, now=now)
            busy += time.monotonic() - began
            runs += status is not None
    return runs, busy


def test_a_backlog_at_the_cap_is_run_about_once_per_row_not_every_tick(
    slow_endpoint, swept
):
    start = database_now()
    backlog = [made_row_id(slow_endpoint) for _ in range(BACKLOG)]
    with _slots_held(slow_endpoint, start - timedelta(seconds=SLOW)):
        runs, busy = _simulate(backlog, swept, start)

    # Before: each row ran at every scheduler tick and every sweep (about
    # 3 a minute: 156 runs in 4 minutes), each spending 0.2 s of a worker
    # waiting for a slot (31 s). Now the front of the queue is tried each
    # tick (a slot may free), the rows behind it on their turns (33 runs).
    assert runs <= 40, runs
    assert busy <= 40 * 0.3, busy
    rows = WebhookDelivery.objects.filter(pk__in=backlog)
    # Nothing used up, nothing lost: each still waits, due on its turn.
    assert {(r.status, r.attempts) for r in rows} == {(DeliveryStatus.PENDING, 0)}
    assert all(r.next_attempt_at is not None for r in rows)


def test_a_row_further_back_waits_longer_within_the_bound(slow_endpoint):
    start = database_now()
    backlog = [made_row_id(slow_endpoint) for _ in range(32)]
    with _slots_held(slow_endpoint, start - timedelta(seconds=40)):
        for delivery_id in backlog:
            services.delivery_send(delivery_id=delivery_id, now=start)
    rows = WebhookDelivery.objects.filter(pk__in=backlog).order_by("created_at", "pk")
    waits = [(row.next_attempt_at - start).total_seconds() for row in rows]
    # Its turn: (rows ahead + 1) x the 40 s the slots have been held / 2
    # slots (+0-20 %), at most CAP_WAIT_MAX_SECONDS.
    assert 20 <= waits[0] <= 24.1, waits[0]
    assert 200 <= waits[9] <= 240.1, waits[9]
    assert CAP_WAIT_MAX_SECONDS <= waits[-1] <= CAP_WAIT_MAX_SECONDS * 1.2
    assert max(waits) <= CAP_WAIT_MAX_SECONDS * 1.2


def test_the_slot_time_is_at_most_the_call_deadline(slow_endpoint):
    start = database_now()
    first, second = made_row_id(slow_endpoint), made_row_id(slow_endpoint)
    # In flight for 10 minutes by the rows (their workers died): no call
    # holds a slot past the 60 s deadline.
    with _slots_held(slow_endpoint, start - timedelta(minutes=10)):
        services.delivery_send(delivery_id=first, now=start)
        services.delivery_send(delivery_id=second, now=start)
    waits = [
        (WebhookDelivery.objects.get(pk=pk).next_attempt_at - start).total_seconds()
        for pk in (first, second)
    ]
    assert 30 <= waits[0] <= 36.1, waits
    assert 60 <= waits[1] <= 72.1, waits
