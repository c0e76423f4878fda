"""The per-endpoint in-flight cap's default follows the worker count: under
`make run`'s defaults (no Q_WORKERS, no STOREFRONT_WEBHOOK_MAX_IN_FLIGHT) one
slow endpoint never holds every django-q worker. Workers are threads here,
each taking delivery ids from one shared queue as qcluster's workers do."""

import json
import queue
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from integrations.testing.faultserver import FaultServer, respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.platform.conftest import ROOT, clean_env, dev_secrets
from tests.storefront_hooks.cap_setup import made_row_id
from tests.storefront_hooks.conftest import HOOK_PATH

# Longest a held answer waits for the test to release it (a failing run).
HELD_LIMIT = 60.0

# Reads the settings module only: no app imports (django.setup() cost each
# probe seconds, and no app's ready() touches these two values).
_PROBE = (
    "import json; from django.conf import settings as s;"
    "print(json.dumps([s.Q_CLUSTER['workers'], s.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT]))"
)


def _started_with(**values: str) -> tuple[int, int]:
    """(workers, cap) of a process started with only these variables set,
    besides the secrets `make run` writes to `.env` (config.bootstrap_env)."""
    env = clean_env(**dev_secrets(), DEBUG="true", **values)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-800:]
    workers, cap = json.loads(result.stdout)
    return workers, cap


def test_make_run_defaults_leave_a_worker_free_of_any_one_endpoint():
    workers, cap = _started_with()
    assert 1 <= cap < workers, (workers, cap)


@pytest.mark.parametrize(
    ("q_workers", "expected"), [("1", 1), ("2", 1), ("3", 2), ("8", 7)]
)
def test_the_default_is_one_below_the_workers_and_at_least_one(q_workers, expected):
    assert _started_with(Q_WORKERS=q_workers) == (int(q_workers), expected)


def test_a_cap_set_explicitly_wins_zero_included():
    assert _started_with(Q_WORKERS="2", STOREFRONT_WEBHOOK_MAX_IN_FLIGHT="5")[1] == 5
    assert _started_with(STOREFRONT_WEBHOOK_MAX_IN_FLIGHT="0")[1] == 0


def _worker(tasks: queue.Queue, finished: dict[int, str | None]) -> threading.Thread:
    def work() -> None:
        try:
            while True:
                try:
                    delivery_id = tasks.get_nowait()
                except queue.Empty:
                    return
                finished[delivery_id] = services.delivery_send(delivery_id=delivery_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _wait_for(predicate, what: str) -> None:
    ends = time.monotonic() + HELD_LIMIT / 2  # a bound on a failing run only
    while not predicate():
        assert time.monotonic() < ends, what
        time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_a_slow_endpoint_never_holds_every_worker_under_make_run_defaults(
    settings, make_endpoint
):
    workers, cap = _started_with()
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": workers}
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = cap
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = HELD_LIMIT
    # The slow endpoint answers only when the test lets it: its deliveries
    # are in flight for as long as the test looks.
    released = threading.Event()
    with (
        FaultServer(hang_limit=HELD_LIMIT) as slow_receiver,
        FaultServer() as fast_receiver,
    ):
        slow_receiver.route("POST", HOOK_PATH, respond(200, until=released))
        slow = make_endpoint(url=slow_receiver.url_for(HOOK_PATH))[0]
        fast_receiver.route("POST", HOOK_PATH, respond(200))
        fast = make_endpoint(url=fast_receiver.url_for(HOOK_PATH))[0]
        tasks: queue.Queue = queue.Queue()
        # A burst for the slow endpoint queued first, one per worker, then
        # another endpoint's delivery behind it.
        for _ in range(workers):
            tasks.put(made_row_id(slow))
        other = made_row_id(fast)
        tasks.put(other)
        finished: dict[int, str | None] = {}
        threads = [_worker(tasks, finished) for _ in range(workers)]
        try:
            # Another endpoint's delivery goes out while the slow ones are in
            # flight, not after them: some worker was free.
            _wait_for(lambda: other in finished, "every worker was held")
            assert len(slow_receiver.requests) <= cap
            assert finished[other] == "delivered"
        finally:
            released.set()
            for thread in threads:
                thread.join()

        assert WebhookDelivery.objects.get(pk=other).status == "delivered"
        # The slow rows the cap held back went out later, each handed the
        # slot a finished one freed (with Q_SYNC its task ran in that
        # worker's thread).
        assert len(slow_receiver.requests) == workers
    slow_rows = WebhookDelivery.objects.filter(endpoint=slow)
    assert {row.status for row in slow_rows} == {"delivered"}
