"""The claim's due check (a task that finds its row more than 2 s before its
next attempt leaves it) never strands a row: a task left early (a scheduler
on a machine whose clock runs ahead, a second task for the row) is followed
by the sweep, which enqueues the row once due by the database's clock, the
claim's own; and a task up to 2 s early still sends."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.clock import database_now
from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services.deliveries import render_body
from storefront_hooks.tasks import deliver_webhook
from tests.storefront_hooks.conftest import HOOK_PATH


def _delivery(endpoint) -> WebhookDelivery:
    # Made directly: with Q_SYNC a row enqueued on commit would be sent at once.
    body = render_body("payment.captured", timezone.now(), {"order_id": "ord_1"})
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="payment.captured", body=body
    )


def _due_in(delivery: WebhookDelivery, seconds: float) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=database_now() + timedelta(seconds=seconds)
    )


@pytest.mark.django_db(transaction=True)
def test_a_task_left_before_due_is_sent_by_the_sweep_once_due(make_endpoint, receiver):
    receiver.route("POST", HOOK_PATH, respond(503), respond(200))
    delivery = _delivery(make_endpoint()[0])
    assert deliver_webhook(delivery.pk) == DeliveryStatus.FAILED
    _due_in(delivery, 30)  # its schedule ran early by a clock 30 s ahead
    assert deliver_webhook(delivery.pk) is None
    assert services.deliveries_sweep() == 0  # not due: not enqueued

    _due_in(delivery, -1)  # the clock moved on
    assert services.deliveries_sweep() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(receiver.requests_for("POST", HOOK_PATH)) == 2


@pytest.mark.django_db(transaction=True)
def test_a_task_a_second_and_a_half_early_still_sends(make_endpoint, receiver):
    receiver.route("POST", HOOK_PATH, respond(503), respond(200))
    delivery = _delivery(make_endpoint()[0])
    assert deliver_webhook(delivery.pk) == DeliveryStatus.FAILED
    _due_in(delivery, 1.5)  # a scheduler whose clock is 1.5 s ahead
    assert deliver_webhook(delivery.pk) == DeliveryStatus.DELIVERED
