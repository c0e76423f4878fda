"""A retry step of 2 s or less keeps its wait: the claim's early allowance
(for clocks a second or two apart) is bounded by the shortest step, so a
second task for a row that just failed (the sweep and the row's schedule
both enqueued it, a broker handed it out twice) leaves it instead of sending
it again at once."""

import random

import pytest
from django.utils import timezone

from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services.deliveries import render_body
from storefront_hooks.tasks import deliver_webhook
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db(transaction=True)


def _delivery(endpoint) -> WebhookDelivery:
    # Made directly: with Q_SYNC a row enqueued on commit would be sent at once.
    body = render_body("payment.captured", timezone.now(), {"order_id": "ord_1"})
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="payment.captured", body=body
    )


@pytest.mark.parametrize("step", [1, 2])
def test_a_second_task_right_after_a_failure_on_a_short_step_leaves_the_row(
    settings, monkeypatch, make_endpoint, receiver, step
):
    settings.STOREFRONT_WEBHOOK_RETRY_SCHEDULE = [step, step]
    monkeypatch.setattr(random, "uniform", lambda low, high: (low + high) / 2)
    receiver.route("POST", HOOK_PATH, respond(503), respond(200))
    delivery = _delivery(make_endpoint()[0])
    assert deliver_webhook(delivery.pk) == DeliveryStatus.FAILED

    assert deliver_webhook(delivery.pk) is None  # the duplicate task

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert len(receiver.requests_for("POST", HOOK_PATH)) == 1


def test_a_short_step_is_still_sent_once_due(
    settings, monkeypatch, make_endpoint, receiver
):
    settings.STOREFRONT_WEBHOOK_RETRY_SCHEDULE = [1, 1]
    monkeypatch.setattr(random, "uniform", lambda low, high: (low + high) / 2)
    receiver.route("POST", HOOK_PATH, respond(503), respond(200))
    delivery = _delivery(make_endpoint()[0])
    assert deliver_webhook(delivery.pk) == DeliveryStatus.FAILED
    # Its schedule, run by a clock 0.3 s ahead of the database's.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timezone.timedelta(seconds=0.3)
    )
    assert deliver_webhook(delivery.pk) == DeliveryStatus.DELIVERED
