"""Outgoing storefront webhooks: a per-endpoint cap on deliveries in flight,
so one slow endpoint (answering 2xx, slowly: its breaker never trips) cannot
hold every worker. A delivery over the cap is deferred, not failed, not
lost. Workers are threads here, each with its own database connection."""

import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django_q.models import Schedule

from integrations.models import DeliveryStatus
from integrations.testing.faultserver import FaultServer, respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.cap_setup import made_row_id
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = 1.5  # seconds the slow receiver takes to answer 200
# Longest a held answer waits for the test to release it (a failing run).
HELD_LIMIT = 60.0


@pytest.fixture
def fast_receiver() -> Iterator[FaultServer]:
    with FaultServer() as server:
        server.route("POST", HOOK_PATH, respond(200))
        yield server


@pytest.fixture
def held_receiver() -> Iterator[FaultServer]:
    """A receiver whose answers wait for the test (``respond(until=...)``)."""
    with FaultServer(hang_limit=HELD_LIMIT) as server:
        yield server


def _send_in_worker(delivery_id: int, results: dict[int, str | None]):
    def work() -> None:
        try:
            results[delivery_id] = services.delivery_send(delivery_id=delivery_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _wait_for(predicate, timeout: float = 5.0) -> None:
    ends = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < ends, "timed out"
        time.sleep(0.01)


def _slow_endpoint(make_endpoint, receiver):
    receiver.route("POST", HOOK_PATH, respond(200, latency=SLOW))
    return make_endpoint()[0]


def test_a_delivery_over_the_cap_is_deferred_not_sent_not_failed(
    settings, make_endpoint, held_receiver
):
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = HELD_LIMIT
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 2
    released = threading.Event()
    held_receiver.route("POST", HOOK_PATH, respond(200, until=released))
    endpoint = make_endpoint(url=held_receiver.url_for(HOOK_PATH))[0]
    first, second, third = (made_row_id(endpoint) for _ in range(3))
    results: dict[int, str | None] = {}
    workers = [_send_in_worker(pk, results) for pk in (first, second)]
    try:
        _wait_for(lambda: len(held_receiver.requests) == 2)

        # Held back at once (a moment's wait for a slot): it is done while
        # both deliveries in flight are still unanswered, not after them.
        over = _send_in_worker(third, results)
        over.join(HELD_LIMIT / 2)  # a bound on a failing run only
        assert not over.is_alive(), "the delivery over the cap waited for a slot"
        assert not released.is_set() and len(held_receiver.requests) == 2

        assert results[third] == DeliveryStatus.PENDING
        row = WebhookDelivery.objects.get(pk=third)
        assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)
        assert "in flight" in row.last_error
        assert row.next_attempt_at is not None
        # Deferred: its retry is scheduled, and it is due for the sweeper too.
        assert Schedule.objects.filter(args__startswith=f"({third},").exists()
    finally:
        released.set()
        for worker in workers:
            worker.join()
    assert {pk: results[pk] for pk in (first, second)} == {
        first: "delivered",
        second: "delivered",
    }
    # A slot is free again: the deferred one went out, handed the freed slot
    # (with Q_SYNC its task ran at once), not left for its turn.
    assert WebhookDelivery.objects.get(pk=third).status == DeliveryStatus.DELIVERED
    assert len(held_receiver.requests) == 3


def test_a_slow_endpoint_at_its_cap_leaves_other_endpoints_alone(
    settings, make_endpoint, receiver, fast_receiver
):
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 5.0
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 1
    slow = _slow_endpoint(make_endpoint, receiver)
    fast = make_endpoint(url=fast_receiver.url_for(HOOK_PATH))[0]
    held = made_row_id(slow)
    results: dict[int, str | None] = {}
    worker = _send_in_worker(held, results)
    _wait_for(lambda: len(receiver.requests) == 1)

    other = made_row_id(fast)
    assert services.delivery_send(delivery_id=other) == DeliveryStatus.DELIVERED
    worker.join()
    assert results == {held: "delivered"}


def test_the_cap_is_configurable_and_zero_means_none(settings, make_endpoint, receiver):
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 5.0
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 0
    endpoint = _slow_endpoint(make_endpoint, receiver)
    ids = [made_row_id(endpoint) for _ in range(3)]
    results: dict[int, str | None] = {}
    workers = [_send_in_worker(pk, results) for pk in ids]
    _wait_for(lambda: len(receiver.requests) == 3)
    for worker in workers:
        worker.join()
    assert set(results.values()) == {"delivered"}
