"""A burst beyond an endpoint's in-flight cap goes out about as fast as the
endpoint answers: when a delivery ends and frees its slot, the endpoint's
oldest row the cap held back is handed to the queue at once (due, its
one-off schedule dropped), not left for the scheduler's next look (1 s at
least, up to 30 s). No worker waits for a slot meanwhile, and no row is sent
twice. Workers are threads taking tasks from one first-in-first-out queue,
as django-q's Redis broker hands them out. The burst test runs no scheduler at
all: every row the cap held back must be handed on by a delivery that ended
(timing is for the bench, not the suite)."""

import contextlib
import queue
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django_q.models import Schedule

from integrations.clock import database_now
from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import deliveries, handoff
from storefront_hooks.services import queue as delivery_queue
from tests.storefront_hooks.cap_setup import made_row_id, slots_taken
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db(transaction=True)

CAP = 2
WORKERS = 4
BURST = 10
ANSWER = 0.05  # seconds the receiver takes: a healthy, fast endpoint


@pytest.fixture
def broker(monkeypatch) -> queue.Queue:
    """The task queue: what ``enqueue`` hands to django-q lands here."""
    tasks: queue.Queue = queue.Queue()

    def async_task(func, delivery_id, *args, **kwargs):
        tasks.put(delivery_id)

    monkeypatch.setattr(delivery_queue, "async_task", async_task)
    return tasks


def _worker(tasks: queue.Queue, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            try:
                delivery_id = tasks.get(timeout=0.01)
            except queue.Empty:
                continue
            services.delivery_send(delivery_id=delivery_id)
    finally:
        connection.close()


@contextlib.contextmanager
def _cluster(tasks: queue.Queue):
    stop = threading.Event()
    threads = [
        threading.Thread(target=_worker, args=(tasks, stop)) for _ in range(WORKERS)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def _all_delivered(ids: list[int], timeout: float) -> float:
    began = time.monotonic()
    done = WebhookDelivery.objects.filter(pk__in=ids, status=DeliveryStatus.DELIVERED)
    while done.count() < len(ids):
        assert time.monotonic() - began < timeout, "not all delivered"
        time.sleep(0.01)
    return time.monotonic() - began


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="worker threads on SQLite's in-memory test database lock its tables",
)
def test_a_burst_beyond_the_cap_goes_out_as_fast_as_the_endpoint_answers(
    settings, make_endpoint, receiver, broker
):
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    receiver.route("POST", HOOK_PATH, respond(200, latency=ANSWER))
    endpoint = make_endpoint()[0]
    ids = [made_row_id(endpoint) for _ in range(BURST)]

    for delivery_id in ids:
        broker.put(delivery_id)
    # No scheduler: before, each row the cap refused waited its turn (1 s at
    # least, then the scheduler's next look) and here was never sent.
    with _cluster(broker):
        _all_delivered(ids, timeout=30.0)

    sent = [request.headers["webhook-id"] for request in receiver.requests]
    assert len(sent) == BURST and len(set(sent)) == BURST  # each once
    assert not Schedule.objects.filter(func=delivery_queue.DELIVER_TASK).exists()


def test_a_freed_slot_goes_to_the_oldest_held_row_once(
    settings, make_endpoint, receiver, broker
):
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint = make_endpoint()[0]
    start = database_now()
    held = [made_row_id(endpoint) for _ in range(3)]
    with slots_taken(endpoint, CAP):
        for delivery_id in held:
            assert services.delivery_send(delivery_id=delivery_id) == "pending"
    # Nothing handed on while every slot was taken.
    assert broker.empty()
    assert Schedule.objects.filter(func=delivery_queue.DELIVER_TASK).count() == 3

    # One delivery in flight (a slot of the two taken), one sent and done.
    with slots_taken(endpoint, CAP - 1):
        fresh = made_row_id(endpoint)
        assert services.delivery_send(delivery_id=fresh) == "delivered"

    # Its freed slot went to the oldest held row, made due, its schedule dropped;
    # the others wait their turn.
    assert broker.get_nowait() == held[0]
    assert broker.empty()
    first = WebhookDelivery.objects.get(pk=held[0])
    assert first.next_attempt_at <= database_now()
    assert first.status == DeliveryStatus.PENDING and "in flight" in first.last_error
    names = set(Schedule.objects.values_list("name", flat=True))
    assert names == {delivery_queue.schedule_name(pk) for pk in held[1:]}
    for pk in held[1:]:
        later = WebhookDelivery.objects.get(pk=pk).next_attempt_at
        assert later > start + timedelta(seconds=1)

    # The handed-on row goes out once, however often its task runs.
    assert services.delivery_send(delivery_id=held[0]) == "delivered"
    assert services.delivery_send(delivery_id=held[0]) is None
    assert broker.get_nowait() == held[1]  # and hands its slot on in turn
    assert len(receiver.requests) == 2


def test_a_slot_freed_while_a_refused_row_is_put_back_is_handed_on(
    settings, make_endpoint, receiver, broker, monkeypatch
):
    """No delivery ends after the refused row is put back, so no ending
    hands the slot on: the refused run itself sees the slot free and does."""
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint = make_endpoint()[0]
    refused = made_row_id(endpoint)
    slots = contextlib.ExitStack()
    slots.enter_context(slots_taken(endpoint, CAP))
    wait = deliveries.cap_wait_seconds

    def slots_freed_meanwhile(delivery, now, least):
        slots.close()  # the deliveries in flight end, before the put back
        return wait(delivery, now, least)

    monkeypatch.setattr(deliveries, "cap_wait_seconds", slots_freed_meanwhile)

    assert services.delivery_send(delivery_id=refused) == "pending"

    assert broker.get_nowait() == refused  # at once, not on its turn
    row = WebhookDelivery.objects.get(pk=refused)
    assert row.next_attempt_at <= database_now()
    assert not Schedule.objects.filter(func=delivery_queue.DELIVER_TASK).exists()
    assert services.delivery_send(delivery_id=refused) == "delivered"


def test_no_cap_no_hand_on_read(settings, make_endpoint, receiver, monkeypatch):
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 0
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint = make_endpoint()[0]
    reads: list[str] = []
    monkeypatch.setattr(handoff.cache, "get", lambda key, *a, **k: reads.append(key))

    assert services.delivery_send(delivery_id=made_row_id(endpoint)) == "delivered"
    assert not [key for key in reads if "slot_waiters" in key]


def test_a_retry_waiting_its_step_is_not_handed_a_slot(
    settings, make_endpoint, receiver, broker
):
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint = make_endpoint()[0]
    step = database_now() + timedelta(minutes=5)
    failed = made_row_id(
        endpoint, status=DeliveryStatus.FAILED, attempts=1, next_attempt_at=step
    )
    held = made_row_id(endpoint)
    with slots_taken(endpoint, CAP):
        assert services.delivery_send(delivery_id=held) == "pending"

    assert services.delivery_send(delivery_id=made_row_id(endpoint)) == "delivered"

    # The older row failed and waits its retry step; only the held one moves.
    assert broker.get_nowait() == held
    assert broker.empty()
    assert WebhookDelivery.objects.get(pk=failed).next_attempt_at == step
