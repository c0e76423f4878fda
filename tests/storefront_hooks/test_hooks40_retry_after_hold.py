"""hooks40 item 1: a receiver answering 429/503 with a Retry-After speaks
for the endpoint: every delivery to it waits until then, not only the one
that was answered. The held rows are put back (not an attempt, not a
failure of the endpoint), come due together with the answered one (none
overtakes it), and go out once the wait is over; a shorter wait answered
meanwhile (another worker's row in flight) does not shorten it."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from tests.storefront_hooks.conftest import HOOK_PATH
from tests.storefront_hooks.hold_setup import hold_settings, waiting_deliveries

pytestmark = pytest.mark.django_db
WAIT = 30


@pytest.fixture(autouse=True)
def _retry_after_settings(settings) -> None:
    hold_settings(settings)


def _until(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, list(
            WebhookDelivery.objects.values_list("status", "last_error")
        )
        time.sleep(0.02)


def _too_many(wait: int = WAIT, latency: float = 0.0):
    return respond(429, headers={"Retry-After": str(wait)}, latency=latency)


def test_a_retry_after_holds_every_delivery_to_the_endpoint(
    receiver, make_endpoint
) -> None:
    make_endpoint()
    receiver.route("POST", HOOK_PATH, _too_many(), respond(200))
    first, second, third = waiting_deliveries(3, key="order_id")
    now = timezone.now()

    assert services.delivery_send(delivery_id=first.pk, now=now) == "failed"
    later = now + timedelta(seconds=1)
    assert services.delivery_send(delivery_id=second.pk, now=later) == "pending"
    assert services.delivery_send(delivery_id=third.pk, now=later) == "pending"

    assert len(receiver.requests_for("POST", HOOK_PATH)) == 1
    first.refresh_from_db()
    for held in (second, third):
        held.refresh_from_db()
        assert held.status == DeliveryStatus.PENDING
        assert held.attempts == 0  # not an attempt
        assert held.last_status_code is None
        # Due with the answered row, not before it.
        assert held.next_attempt_at >= first.next_attempt_at
        assert held.next_attempt_at >= now + timedelta(seconds=WAIT)
        assert "Retry-After" in held.last_error
    assert second.next_attempt_at == third.next_attempt_at


def test_the_held_rows_go_out_once_the_wait_is_over(receiver, make_endpoint) -> None:
    make_endpoint()
    receiver.route("POST", HOOK_PATH, _too_many(), respond(200))
    first, second = waiting_deliveries(2, key="order_id")
    now = timezone.now()
    services.delivery_send(delivery_id=first.pk, now=now)
    services.delivery_send(delivery_id=second.pk, now=now + timedelta(seconds=1))
    second.refresh_from_db()

    over = second.next_attempt_at + timedelta(seconds=1)
    assert services.delivery_send(delivery_id=second.pk, now=over) == "delivered"
    assert services.delivery_send(delivery_id=first.pk, now=over) == "delivered"
    second.refresh_from_db()
    assert second.attempts == 1


def test_a_held_row_is_not_a_failure_of_the_endpoint(receiver, make_endpoint) -> None:
    endpoint = make_endpoint()[0]
    receiver.route("POST", HOOK_PATH, _too_many())
    first, second = waiting_deliveries(2, key="order_id")
    now = timezone.now()
    services.delivery_send(delivery_id=first.pk, now=now)
    streak = WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since

    services.delivery_send(delivery_id=second.pk, now=now + timedelta(seconds=5))

    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since == streak
    second.refresh_from_db()
    assert second.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_a_shorter_wait_answered_meanwhile_does_not_shorten_the_hold(
    settings, receiver, make_endpoint
) -> None:
    """Two workers' rows in flight together: the long wait answered first,
    the short one after; the endpoint stays held for the long one."""
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 2
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 20.0  # the test's answers wait
    endpoint = make_endpoint()[0]
    long_answered, short_answered = threading.Event(), threading.Event()
    receiver.route(
        "POST",
        HOOK_PATH,
        respond(429, headers={"Retry-After": str(WAIT)}, until=long_answered),
        respond(429, headers={"Retry-After": "2"}, until=short_answered),
    )
    first, second, third = waiting_deliveries(3, key="order_id")
    now = timezone.now()

    def send(pk: int) -> None:
        try:
            services.delivery_send(delivery_id=pk, now=now)
        finally:
            connection.close()

    workers = [threading.Thread(target=send, args=(d.pk,)) for d in (first, second)]
    for worker in workers:
        worker.start()
    _until(lambda: len(receiver.requests_for("POST", HOOK_PATH)) == 2)
    long_answered.set()
    stored = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    _until(lambda: stored.values_list("retry_after_until", flat=True).get())
    short_answered.set()
    for worker in workers:
        worker.join()

    later = now + timedelta(seconds=10)
    assert services.delivery_send(delivery_id=third.pk, now=later) == "pending"
    third.refresh_from_db()
    assert third.next_attempt_at >= now + timedelta(seconds=WAIT)
