"""The first retry steps (5 s, 5 min) are scheduled on their own (a django-q2
schedule once, run by the cluster's scheduler at the row's next attempt),
not left for the every-minute sweep; later steps are the sweeper's."""

import ast
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule
from django_q.scheduler import scheduler

from integrations.events import event_emit
from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services.queue import DELIVER_TASK
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def _delivery() -> WebhookDelivery:
    event = event_emit(name="payment.captured", payload={"order_id": "ord_1"})
    services.event_fan_out(event)
    return WebhookDelivery.objects.get(event=event)


def test_a_first_failure_schedules_its_retry_at_the_next_attempt(
    receiver, make_endpoint
) -> None:
    make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(503), respond(200))
    delivery = _delivery()

    assert services.delivery_send(delivery_id=delivery.pk) == DeliveryStatus.FAILED

    delivery.refresh_from_db()
    (schedule,) = Schedule.objects.filter(func=DELIVER_TASK)
    assert schedule.schedule_type == Schedule.ONCE
    assert schedule.next_run == delivery.next_attempt_at
    assert ast.literal_eval(schedule.args)[0] == delivery.pk
    assert 4 <= (delivery.next_attempt_at - delivery.last_attempt_at).seconds <= 6

    # The cluster's scheduler runs it when due (Q_SYNC: at once), then drops it.
    Schedule.objects.filter(pk=schedule.pk).update(
        next_run=timezone.now() - timedelta(seconds=1)
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now()
    )
    scheduler()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert not Schedule.objects.filter(func=DELIVER_TASK).exists()
    ids = {r.header("webhook-id") for r in receiver.requests_for("POST", HOOK_PATH)}
    assert ids == {delivery.public_id}


def test_later_steps_are_left_to_the_sweeper(receiver, make_endpoint) -> None:
    make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500))
    delivery = _delivery()
    # Past the 5 s, 5 min and 30 min steps: the next wait is 2 h.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=3)

    assert services.delivery_send(delivery_id=delivery.pk) == DeliveryStatus.FAILED

    assert not Schedule.objects.filter(func=DELIVER_TASK).exists()
    delivery.refresh_from_db()
    later = delivery.next_attempt_at + timedelta(seconds=1)
    assert services.deliveries_sweep(now=later) == 1


def test_a_dead_delivery_schedules_nothing(settings, receiver, make_endpoint) -> None:
    make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500))
    delivery = _delivery()
    last = settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS - 1
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=last)

    assert services.delivery_send(delivery_id=delivery.pk) == DeliveryStatus.DEAD

    assert not Schedule.objects.filter(func=DELIVER_TASK).exists()
