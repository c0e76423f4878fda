"""Event deliveries whatever the machines' clocks: a claim, its lease and a
retry's backoff are measured on the database's clock, so a worker or a
sweeper whose clock is minutes off neither steals a live claim, nor leaves
a dead worker's claim held, nor retries early or late."""

from datetime import timedelta

import pytest

from integrations import events
from integrations.clock import database_now
from integrations.events import event_deliveries_sweep, event_delivery_run, event_emit
from integrations.models import DeliveryStatus, EventDelivery
from integrations.testing.clocks import machine_clock, shared_by_machines
from tests.integrations.events import subscribers
from tests.integrations.events.conftest import SUBS

pytestmark = pytest.mark.django_db

SKEW = 300  # a machine whose NTP broke: five minutes off
LEASE = 60
THIS = "tests.integrations.events.test_clock_skew"
_sweeper_skew: list[float] = []


@pytest.fixture(autouse=True)
def _two_machines(settings, monkeypatch) -> list[int]:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    settings.EVENT_DELIVERY_LEASE_SECONDS = LEASE
    _sweeper_skew.clear()
    swept: list[int] = []
    monkeypatch.setattr(events, "_enqueue", lambda ids, *_: swept.extend(ids))
    return swept


def sweeps_while_delivering(event) -> None:
    """A subscriber during whose call another machine's sweep runs."""
    subscribers.calls.append(("sweeps", event.pk))
    with machine_clock(_sweeper_skew[0]):
        event_deliveries_sweep()


def _delivery(settings, subscriber: str) -> EventDelivery:
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {"payment.captured": [subscriber]}
    event = event_emit(name="payment.captured", payload={}, subject="payment:1")
    return event.deliveries.get()


@pytest.mark.parametrize(
    ("worker", "sweeper"),
    [(-SKEW, 0), (0, SKEW)],
    ids=["worker_behind", "sweeper_ahead"],
)
def test_a_sweep_on_another_machine_leaves_a_live_claim(
    settings, worker, sweeper
) -> None:
    _sweeper_skew.append(sweeper)
    delivery = _delivery(settings, f"{THIS}.sweeps_while_delivering")

    with machine_clock(worker):
        assert event_delivery_run(delivery_id=delivery.pk) == "delivered"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)


def test_a_sweeper_whose_clock_is_behind_takes_back_an_expired_claim(
    settings, _two_machines
) -> None:
    delivery = _delivery(settings, f"{SUBS}.audit")
    # A worker claimed it a lease and a bit ago (by the database's clock) and died.
    EventDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DELIVERING,
        attempts=1,
        claimed_at=database_now() - timedelta(seconds=LEASE + 5),
    )

    with machine_clock(-SKEW):
        assert event_deliveries_sweep() == 1

    assert _two_machines == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


@pytest.mark.parametrize("worker", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_a_retry_is_due_after_its_backoff_by_the_databases_clock(
    settings, _two_machines, worker
) -> None:
    subscribers.FAILURES_LEFT["count"] = 1
    delivery = _delivery(settings, f"{SUBS}.flaky")

    with machine_clock(worker):
        assert event_delivery_run(delivery_id=delivery.pk) == "failed"

    delivery.refresh_from_db()
    wait = (delivery.next_attempt_at - database_now()).total_seconds()
    assert 25 < wait <= 30  # EVENT_RETRY_BASE_SECONDS, from the failure
    assert event_deliveries_sweep() == 0
    assert _two_machines == []
