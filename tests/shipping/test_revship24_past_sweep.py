"""The hourly past sweep (``pickups_past_sweep``) under load and concurrency.

- Two workers sweeping at once: each pickup is marked and announced
  (``pickup.past``) exactly once, and neither waits for the other.
- A row a staff cancel holds locked (its claim being written) is not waited
  for: the sweep leaves it to the claim (and the next run), and marks the rest.
- Its cost: one statement per pickup (its outbox event), not one more to read
  each pickup's shipments for the payload.
"""

import contextlib
import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations.models import Event
from shipping.models import Pickup, PickupStatus
from shipping.services.pickups import pickups_past_sweep
from tests.factories import ProviderAccountFactory
from tests.shipping.helpers import pickup_day, scheduled_pickup
from tests.shipping.ups_answers import ups_account


@pytest.fixture
def ups():
    return ups_account("ups-revship24-past")


def _gone(account, count: int) -> list[Pickup]:
    day = pickup_day(-3)
    return [
        scheduled_pickup(account, f"PRN-{account.slug}-{n}", pickup_date=day)
        for n in range(count)
    ]


def _sweep_threads(count: int) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = []

    def sweep() -> None:
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            results.append(pickups_past_sweep())
        except Exception as error:  # the test reads it
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_announce_each_pickup_exactly_once(ups):
    pickups = _gone(ups, 40)

    results = _sweep_threads(2)

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == len(pickups)
    subjects = list(
        Event.objects.filter(name="pickup.past").values_list("subject", flat=True)
    )
    assert sorted(subjects) == sorted(p.public_id for p in pickups)
    assert set(Pickup.objects.values_list("status", flat=True)) == {PickupStatus.PAST}


@pytest.mark.django_db(transaction=True)
def test_a_row_a_cancel_holds_is_not_waited_for(ups):
    held, free = _gone(ups, 2)
    locked = threading.Event()
    release = threading.Event()

    def cancel_claim() -> None:
        # A staff cancel between reading its row (locked) and committing.
        try:
            with transaction.atomic():
                Pickup.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    thread = threading.Thread(target=cancel_claim)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            moved = pickups_past_sweep()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
    finally:
        release.set()
        thread.join(timeout=30)

    assert moved == 1
    assert Pickup.objects.get(pk=free.pk).status == PickupStatus.PAST
    assert Pickup.objects.get(pk=held.pk).status == PickupStatus.SCHEDULED
    assert pickups_past_sweep() == 1  # the next run takes it
    assert Event.objects.filter(name="pickup.past").count() == 2


@pytest.mark.django_db
def test_the_sweep_costs_one_statement_per_pickup(ups):
    other = ProviderAccountFactory(
        kind="shipping", provider="ups", slug="ups-revship24-more"
    )
    _gone(ups, 1)
    with CaptureQueriesContext(connection) as one:
        assert pickups_past_sweep() == 1
    _gone(other, 6)
    with CaptureQueriesContext(connection) as six:
        assert pickups_past_sweep() == 6

    # Each further pickup: its outbox event, nothing else.
    assert len(six) - len(one) <= 5, [q["sql"][:80] for q in six.captured_queries]
