"""An outbox event and its deliveries are stamped created by the database's
clock, the one the sweep measures "waiting too long" by: a web process
whose clock is minutes off neither gets a fresh delivery swept as lost nor
hides a lost one from the sweep."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import events
from integrations.clock import database_now
from integrations.events import event_deliveries_sweep, event_emit
from integrations.models import Event, EventDelivery
from integrations.testing.clocks import shared_by_machines, whole_machine_clock

pytestmark = pytest.mark.django_db

SKEW = 300  # a machine whose NTP broke: five minutes off


@pytest.fixture(autouse=True)
def _two_machines(settings, monkeypatch) -> list[int]:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    settings.EVENT_SWEEP_AFTER_MINUTES = 2
    swept: list[int] = []
    monkeypatch.setattr(events, "_enqueue", lambda ids, *_: swept.extend(ids))
    return swept


def _emit_on_a_machine(seconds: float) -> Event:
    with whole_machine_clock(seconds):
        assert timezone.now() - database_now() > timedelta(seconds=seconds - 5)
        return event_emit(name="payment.captured", payload={}, subject="payment:1")


def test_a_fresh_delivery_from_a_slow_web_process_is_not_swept_as_lost(
    _two_machines,
) -> None:
    # The first enqueue is on its way; only a lost one is the sweep's.
    _emit_on_a_machine(-SKEW)

    assert event_deliveries_sweep() == 0
    assert _two_machines == []


def test_a_lost_delivery_from_a_fast_web_process_is_swept_after_the_delay(
    _two_machines,
) -> None:
    event = _emit_on_a_machine(SKEW)
    three_minutes_on = database_now() + timedelta(minutes=3)

    assert event_deliveries_sweep(now=three_minutes_on) == 2
    assert sorted(_two_machines) == sorted(
        event.deliveries.values_list("pk", flat=True)
    )


@pytest.mark.parametrize("machine", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_the_event_and_its_deliveries_carry_the_databases_time(machine) -> None:
    before = database_now()
    event = _emit_on_a_machine(machine)
    after = database_now()

    stored = Event.objects.get(pk=event.pk)
    assert stored.created_at == event.created_at
    assert before <= stored.created_at <= after
    created = set(
        EventDelivery.objects.filter(event=event).values_list("created_at", flat=True)
    )
    assert created == {stored.created_at}
