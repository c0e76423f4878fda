"""With one django-q worker (Q_WORKERS=1, the cap's default 1) a slow
endpoint holds that worker, one delivery after another, but each for at
most its deadline (connect + read timeout): another endpoint's delivery goes
out after the tasks queued ahead of it, not after the slow endpoint's later
ones (the worker takes tasks first in, first out, as django-q's Redis broker
hands them out). One that never answers in time holds it until its breaker
opens (consecutive failures); then its deliveries are held back at once."""

import queue
import threading
import time

import pytest
from django.db import connection

from integrations.models import DeliveryStatus
from integrations.testing.faultserver import FaultServer, respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.cap_setup import made_row_id
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db(transaction=True)

CONNECT, READ = 0.5, 1.0  # the deadline: 1.5 s
SLOW = 0.6  # seconds the slow receiver takes to answer 200
AHEAD, BEHIND = 3, 3  # the slow endpoint's deliveries queued before, after


def _one_worker(tasks: queue.Queue, finished: dict[int, float]) -> None:
    try:
        while True:
            try:
                delivery_id = tasks.get_nowait()
            except queue.Empty:
                return
            services.delivery_send(delivery_id=delivery_id)
            finished[delivery_id] = time.monotonic()
    finally:
        connection.close()


def _run_one_worker(first: list[int], other: int, then: list[int]) -> dict:
    tasks: queue.Queue = queue.Queue()
    for delivery_id in [*first, other, *then]:
        tasks.put(delivery_id)
    finished: dict[int, float] = {"started": time.monotonic()}
    worker = threading.Thread(target=_one_worker, args=(tasks, finished))
    worker.start()
    worker.join()
    return finished


def _took(finished: dict) -> str:
    """Each delivery's time in the worker, in the order it ran: a failure
    says which one the time went to (stall48 found a flush waiting 22 s)."""
    start = finished["started"]
    ends = sorted((at, pk) for pk, at in finished.items() if pk != "started")
    took = []
    for at, pk in ends:
        took.append(f"{pk}: {at - start:.2f}s")
        start = at
    return ", ".join(took)


@pytest.fixture
def one_worker(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 1}
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 1  # Q_WORKERS=1's default
    settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = CONNECT
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = READ


@pytest.fixture
def fast(make_endpoint):
    with FaultServer() as fast_receiver:
        fast_receiver.route("POST", HOOK_PATH, respond(200))
        yield make_endpoint(url=fast_receiver.url_for(HOOK_PATH))[0]


def test_a_slow_endpoint_holds_the_one_worker_only_for_the_tasks_ahead(
    one_worker, make_endpoint, receiver, fast
):
    # 2xx, slowly: its breaker never trips, only the deadline bounds a call.
    receiver.route("POST", HOOK_PATH, respond(200, latency=SLOW))
    slow = make_endpoint()[0]
    ahead = [made_row_id(slow) for _ in range(AHEAD)]
    other = made_row_id(fast)
    behind = [made_row_id(slow) for _ in range(BEHIND)]

    finished = _run_one_worker(ahead, other, behind)

    waited = finished[other] - finished["started"]
    assert AHEAD * SLOW * 0.9 <= waited <= AHEAD * (CONNECT + READ), waited
    last_ahead = max(finished[pk] for pk in ahead)
    assert last_ahead < finished[other] < min(finished[pk] for pk in behind)
    statuses = WebhookDelivery.objects.filter(pk__in=[*ahead, other, *behind])
    assert {row.status for row in statuses} == {DeliveryStatus.DELIVERED}


# The hung endpoint's attempts each wait out a read timeout: a shorter one
# proves the same (held until the breaker opens, then held back at once).
HUNG_READ = 0.3


def test_a_hung_endpoint_holds_it_until_its_breaker_opens(
    settings, one_worker, make_endpoint, receiver, fast
):
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = HUNG_READ
    receiver.route("POST", HOOK_PATH, respond(200, latency=3 * HUNG_READ))  # too late
    hung = make_endpoint()[0]
    tripped_after = settings.BREAKER_CONSECUTIVE_FAILURES
    ahead = [made_row_id(hung) for _ in range(tripped_after + 3)]
    other = made_row_id(fast)

    finished = _run_one_worker(ahead, other, [])

    # Each attempt a read timeout (within the deadline), until the breaker
    # opened: the rest were held back at once, no worker held, no attempt used.
    waited = finished[other] - finished["started"]
    assert waited <= tripped_after * (CONNECT + HUNG_READ), _took(finished)
    rows = WebhookDelivery.objects.filter(pk__in=ahead).order_by("pk")
    assert [(r.status, r.attempts) for r in rows] == [
        (DeliveryStatus.FAILED, 1)
    ] * tripped_after + [(DeliveryStatus.PENDING, 0)] * 3
    assert WebhookDelivery.objects.get(pk=other).status == DeliveryStatus.DELIVERED
