"""A delivery row has one one-off schedule at most: each retry or hold-back
moves it to the row's next attempt. A row the in-flight cap holds back is due
again a second later, so the sweep (every minute) enqueues it while its own
schedule still waits for the scheduler (every 30 s); each task held back
again used to add a schedule, so a slow endpoint's backlog ran more tasks
each round and kept the workers busy with it, what the cap is there to
prevent."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler

from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services.deliveries import render_body
from storefront_hooks.services.queue import DELIVER_TASK
from storefront_hooks.tasks import deliver_webhook
from storefront_hooks.transport import endpoint_client
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def _delivery(endpoint) -> WebhookDelivery:
    # Made directly: with Q_SYNC a row enqueued on commit would be sent at once.
    body = render_body("payment.captured", timezone.now(), {"order_id": "ord_1"})
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="payment.captured", body=body
    )


def _schedules(delivery: WebhookDelivery) -> int:
    return Schedule.objects.filter(
        func=DELIVER_TASK, args__startswith=f"({delivery.pk},"
    ).count()


def test_a_held_back_row_keeps_one_schedule_however_often_it_is_enqueued(
    settings, make_endpoint, receiver
):
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 1
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint = make_endpoint()[0]
    # Another worker's delivery to the endpoint holds its one slot.
    _, limiter = endpoint_client(endpoint)._guards()
    with limiter.concurrency_slot():
        delivery = _delivery(endpoint)
        assert deliver_webhook(delivery.pk) == DeliveryStatus.PENDING
        assert _schedules(delivery) == 1

        for _ in range(3):
            # The sweep finds it due before the scheduler's next look...
            services.deliveries_sweep(now=timezone.now() + timedelta(seconds=3))
            # ...then the scheduler runs what is due (the clock moved on).
            Schedule.objects.filter(func=DELIVER_TASK).update(
                next_run=timezone.now() - timedelta(seconds=1)
            )
            scheduler(broker=get_broker())

    assert receiver.requests == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    assert _schedules(delivery) == 1


def test_a_retry_sent_by_the_sweep_moves_the_rows_schedule_to_its_next_attempt(
    make_endpoint, receiver
):
    receiver.route("POST", HOOK_PATH, respond(503))
    delivery = _delivery(make_endpoint()[0])
    assert deliver_webhook(delivery.pk) == DeliveryStatus.FAILED
    # Due (the clock moved on); the sweep gets there before the scheduler.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.deliveries_sweep() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 2)
    [left] = Schedule.objects.filter(func=DELIVER_TASK)
    assert left.next_run == delivery.next_attempt_at


@pytest.mark.django_db(transaction=True)
def test_a_schedule_the_scheduler_is_running_is_left_to_it_not_waited_for(
    make_endpoint, receiver
):
    receiver.route("POST", HOOK_PATH, respond(503))
    delivery = _delivery(make_endpoint()[0])
    assert deliver_webhook(delivery.pk) == DeliveryStatus.FAILED
    [running] = Schedule.objects.filter(func=DELIVER_TASK)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    locked, done = threading.Event(), threading.Event()

    def scheduler_tick() -> None:
        # As django-q2's scheduler holds the due schedules it runs.
        try:
            with transaction.atomic():
                Schedule.objects.select_for_update().get(pk=running.pk)
                locked.set()
                done.wait(timeout=5)
        finally:
            connection.close()

    tick = threading.Thread(target=scheduler_tick)
    tick.start()
    try:
        assert locked.wait(timeout=5)
        started = time.monotonic()
        # The sweep's task for the row, while the scheduler runs its schedule.
        assert deliver_webhook(delivery.pk) == DeliveryStatus.FAILED
        took = time.monotonic() - started
    finally:
        done.set()
        tick.join()

    assert took < 2, took
    delivery.refresh_from_db()
    new = Schedule.objects.filter(func=DELIVER_TASK).exclude(pk=running.pk)
    assert [s.next_run for s in new] == [delivery.next_attempt_at]
