"""Domain events: written with the change, delivered after commit, once per
subscriber, retried, swept."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from integrations import correlation, events, task_batcher
from integrations.event_tasks import deliver_event, sweep_event_deliveries
from integrations.events import (
    event_deliveries_sweep,
    event_delivery_run,
    event_emit,
    subscribers_for,
)
from integrations.models import DeliveryStatus, Event, EventDelivery
from tests.integrations.events import subscribers
from tests.integrations.events.conftest import SUBS

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


@pytest.fixture
def dropped_broker(monkeypatch):
    """A broker that loses every task: records what was sent, runs nothing."""
    sent: list[int] = []

    def lose(func: str, items: list[list], *args: object, **kwargs: object) -> None:
        # One task for the events of a moment: [delivery ids, correlation id].
        for delivery_ids, _correlation_id in items:
            sent.extend(delivery_ids)

    monkeypatch.setattr(task_batcher, "async_task", lose)
    return sent


def _emit(**kwargs) -> Event:
    return event_emit(
        name=kwargs.pop("name", "payment.captured"),
        payload=kwargs.pop("payload", {"amount": 1000, "currency": "EUR"}),
        subject=kwargs.pop("subject", "payment:1"),
    )


def test_event_is_rolled_back_with_the_change_that_caused_it(
    django_capture_on_commit_callbacks,
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(_Rollback),
        transaction.atomic(),
    ):
        _emit()
        raise _Rollback
    assert Event.objects.count() == 0
    assert EventDelivery.objects.count() == 0
    assert callbacks == []
    assert subscribers.calls == []


def test_nothing_is_delivered_before_commit():
    # The test transaction never commits, so no delivery task starts.
    _emit()
    assert Event.objects.count() == 1
    assert subscribers.calls == []


def test_delivered_once_to_each_subscriber_after_commit(
    django_capture_on_commit_callbacks,
):
    with (
        correlation.bind("req-42"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        transaction.atomic(),
    ):
        event = _emit(payload={"amount": 1000, "at": timezone.now()})
    # One task for the event's two deliveries, each settled on its own.
    assert len(callbacks) == 1
    assert sorted(subscribers.calls) == [("audit", event.pk), ("mailer", event.pk)]
    assert event.correlation_id == "req-42"
    for delivery in event.deliveries.all():
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
        assert delivery.delivered_at is not None
    # A delivered row is never delivered again, whoever asks.
    for delivery in event.deliveries.all():
        assert deliver_event(delivery.pk) is None
    assert event_deliveries_sweep(now=timezone.now() + timedelta(days=1)) == 0
    assert len(subscribers.calls) == 2


def test_subscribers_by_exact_name_prefix_and_star(settings):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        "payment.captured": ["a", "b"],
        "payment.*": ["c", "a"],
        "*": ["d"],
        "shipment.*": ["e"],
    }
    assert subscribers_for("payment.captured") == ["a", "b", "c", "d"]
    assert subscribers_for("payment.refunded") == ["c", "a", "d"]
    assert subscribers_for("inventory.level_changed") == ["d"]


def test_event_without_subscribers_is_still_recorded():
    event = _emit(name="inventory.level_changed")
    assert Event.objects.filter(pk=event.pk).exists()
    assert event.deliveries.count() == 0


def test_crashed_worker_event_is_delivered_exactly_once_by_the_sweeper(
    dropped_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = _emit()
    assert len(dropped_broker) == 2  # sent, then lost by the broker
    assert subscribers.calls == []

    now = timezone.now()
    # Too young to sweep: its first task may still be on its way.
    assert event_deliveries_sweep(now=now + timedelta(minutes=1)) == 0
    # The sweeper's own tasks run on a working broker.
    pending = [d.pk for d in event.deliveries.all()]
    assert event_deliveries_sweep(now=now + timedelta(minutes=3)) == 2
    for delivery_id in pending:
        event_delivery_run(delivery_id=delivery_id)
    # A second sweep and a late copy of the lost task change nothing.
    assert event_deliveries_sweep(now=now + timedelta(minutes=10)) == 0
    for delivery_id in pending:
        assert event_delivery_run(delivery_id=delivery_id) is None
    assert sorted(subscribers.calls) == [("audit", event.pk), ("mailer", event.pk)]


def test_sweeper_task_delivers_with_the_sync_broker(settings):
    settings.EVENT_SWEEP_AFTER_MINUTES = 0
    event = _emit()
    assert sweep_event_deliveries() == 2
    assert sorted(subscribers.calls) == [("audit", event.pk), ("mailer", event.pk)]


def test_failed_delivery_retries_with_backoff_then_dies(settings):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {"payment.captured": [f"{SUBS}.flaky"]}
    subscribers.FAILURES_LEFT["count"] = 99
    delivery = _emit().deliveries.get()
    t0 = timezone.now()
    assert event_delivery_run(delivery_id=delivery.pk, now=t0) == "failed"
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == t0 + timedelta(seconds=30)
    assert delivery.last_error == "ConnectionError: subscriber's downstream refused"

    t1 = t0 + timedelta(seconds=30)
    assert event_delivery_run(delivery_id=delivery.pk, now=t1) == "failed"
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == t1 + timedelta(seconds=60)
    assert event_delivery_run(delivery_id=delivery.pk, now=t1) == "dead"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 3)
    assert event_deliveries_sweep(now=t1 + timedelta(days=1)) == 0


def test_one_task_settles_each_of_an_events_deliveries_on_its_own(
    settings, django_capture_on_commit_callbacks
):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        "payment.captured": [f"{SUBS}.flaky", f"{SUBS}.audit"]
    }
    subscribers.FAILURES_LEFT["count"] = 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        event = _emit()

    assert len(callbacks) == 1  # one enqueue for both deliveries
    statuses = dict(event.deliveries.values_list("subscriber", "status"))
    assert statuses == {
        f"{SUBS}.flaky": DeliveryStatus.FAILED,  # kept, retried alone
        f"{SUBS}.audit": DeliveryStatus.DELIVERED,  # not held back by it
    }
    assert sorted(subscribers.calls) == [("audit", event.pk), ("flaky", event.pk)]


def test_failed_delivery_recovers_through_the_sweeper(settings, dropped_broker):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {"payment.captured": [f"{SUBS}.flaky"]}
    subscribers.FAILURES_LEFT["count"] = 1
    delivery = _emit().deliveries.get()
    t0 = timezone.now()
    event_delivery_run(delivery_id=delivery.pk, now=t0)
    assert event_deliveries_sweep(now=t0 + timedelta(seconds=29)) == 0
    assert event_deliveries_sweep(now=t0 + timedelta(seconds=30)) == 1
    assert dropped_broker == [delivery.pk]
    assert event_delivery_run(delivery_id=delivery.pk) == "delivered"
    assert len(subscribers.calls) == 2


def test_subscriber_writes_roll_back_when_it_fails(settings):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        "payment.captured": [f"{SUBS}.writes_then_fails"]
    }
    delivery = _emit().deliveries.get()
    assert event_delivery_run(delivery_id=delivery.pk) == "failed"
    assert not Event.objects.filter(name="test.side_effect").exists()


def test_subscriber_writes_commit_with_the_delivery(settings):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {"payment.captured": [f"{SUBS}.writes"]}
    delivery = _emit().deliveries.get()
    assert event_delivery_run(delivery_id=delivery.pk) == "delivered"
    assert event_delivery_run(delivery_id=delivery.pk) is None
    assert Event.objects.filter(name="test.side_effect").count() == 1


def test_worker_that_lost_its_claim_rolls_back(settings):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        "payment.captured": [f"{SUBS}.writes_and_loses_claim"]
    }
    delivery = _emit().deliveries.get()
    assert event_delivery_run(delivery_id=delivery.pk) is None
    assert not Event.objects.filter(name="test.side_effect").exists()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERING  # the new owner's


def test_expired_delivery_claim_is_taken_back(dropped_broker, settings):
    settings.EVENT_DELIVERY_LEASE_SECONDS = 600
    delivery = _emit().deliveries.first()
    now = timezone.now()
    EventDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DELIVERING,
        attempts=1,
        claimed_at=now - timedelta(seconds=601),
    )
    # Only the expired claim is swept: the other delivery is too young.
    assert event_deliveries_sweep(now=now) == 1
    assert dropped_broker == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def test_an_error_of_ours_on_one_delivery_does_not_stop_the_events_others(
    monkeypatch,
):
    from integrations import event_tasks

    event = _emit()
    first, second = event.deliveries.order_by("pk").values_list("pk", flat=True)
    real = events.event_delivery_run

    def broken_first(*, delivery_id: int, now=None):
        if delivery_id == first:
            raise RuntimeError("database went away")
        return real(delivery_id=delivery_id, now=now)

    monkeypatch.setattr(events, "event_delivery_run", broken_first)

    assert event_tasks.deliver_events([first, second]) == [None, "delivered"]
    statuses = dict(event.deliveries.values_list("pk", "status"))
    # The first stays pending for the sweeper; the second went out.
    assert statuses == {first: DeliveryStatus.PENDING, second: "delivered"}


def test_a_task_worker_enqueues_its_events_when_the_task_ends(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q.signals import post_execute_in_worker

    sent: list[list] = []
    monkeypatch.setattr(
        task_batcher, "async_task", lambda func, items, **kw: sent.extend(items)
    )
    monkeypatch.setattr(task_batcher.Conf, "SYNC", False)
    # The background thread would wait a minute: only the task's end sends.
    settings.EVENT_ENQUEUE_LINGER_MS = 60_000
    with django_capture_on_commit_callbacks(execute=True):
        event = _emit()
    assert sent == []

    post_execute_in_worker.send(sender="django_q", func=None, task={})

    assert sent == [[list(event.deliveries.values_list("pk", flat=True)), ""]]
