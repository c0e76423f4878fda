"""A failed delivery waits out its retry step: a second task for the row (the
sweep and the row's one-off schedule both enqueue it when it comes due, the
broker hands a task out again) finds it not due and sends nothing. Due, it
goes out as before."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services.deliveries import render_body
from storefront_hooks.tasks import deliver_webhook
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def _delivery(endpoint) -> WebhookDelivery:
    # Made directly: with Q_SYNC a row enqueued on commit would be sent at once.
    body = render_body("payment.captured", timezone.now(), {"order_id": "ord_1"})
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="payment.captured", body=body
    )


def _second_task_before_due_sends_nothing(receiver, make_endpoint) -> None:
    receiver.route("POST", HOOK_PATH, respond(503))
    delivery = _delivery(make_endpoint()[0])
    assert deliver_webhook(delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    due = delivery.next_attempt_at
    assert due is not None and due > timezone.now()

    # Another task for the same row, seconds before its 5 s step is up.
    assert deliver_webhook(delivery.pk) is None

    assert len(receiver.requests_for("POST", HOOK_PATH)) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert (delivery.attempts, delivery.next_attempt_at) == (1, due)


def test_a_second_task_before_the_retry_is_due_sends_nothing(receiver, make_endpoint):
    # In a test's transaction: the ORM's claim (rows.claim).
    _second_task_before_due_sends_nothing(receiver, make_endpoint)


@pytest.mark.django_db(transaction=True)
def test_a_second_task_before_due_sends_nothing_on_the_workers_claim(
    receiver, make_endpoint
):
    # Outside a transaction, as a worker runs: the one-statement claim on
    # PostgreSQL (services.claim).
    _second_task_before_due_sends_nothing(receiver, make_endpoint)


def test_a_row_due_again_is_sent_by_its_task(receiver, make_endpoint):
    receiver.route("POST", HOOK_PATH, respond(503), respond(200))
    delivery = _delivery(make_endpoint()[0])
    assert deliver_webhook(delivery.pk) == DeliveryStatus.FAILED
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert deliver_webhook(delivery.pk) == DeliveryStatus.DELIVERED
    assert len(receiver.requests_for("POST", HOOK_PATH)) == 2
