"""Outside test (item 4): a worker process killed (SIGKILL, as an OOM kill
or a deploy does) while its POST is at the receiver never loses the event:
the sweeper takes the row back after the lease and it is sent again with the
same webhook-id and a signature the receiver's verifier accepts.
test_delivery.py simulates the death in-process; this one kills a process."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integrations.events import event_emit
from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import queue, sweep
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
WORKER = (
    "import django, sys; django.setup()\n"
    "from storefront_hooks import services\n"
    "services.delivery_send(delivery_id=int(sys.argv[1]))\n"
)


def _worker(delivery_id: int) -> subprocess.Popen:
    """A worker process on the test database and this run's Redis."""
    s = connection.settings_dict
    url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": url,
        "STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "STOREFRONT_WEBHOOK_READ_TIMEOUT": "30",
        # The slot it holds would expire by Redis's clock, not the sweep's.
        "STOREFRONT_WEBHOOK_MAX_IN_FLIGHT": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(delivery_id)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_mid_post_never_loses_the_event(
    settings, receiver, make_endpoint, monkeypatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a second process needs the server database")
    # The sweep below runs a lease ahead of the real clock; the killed
    # worker's in-flight slot ends by the real one (test_revpay_in_flight_leak).
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 0
    _endpoint, secret = make_endpoint()
    answered = threading.Event()
    # The first POST is held at the receiver until the test lets it go.
    receiver.route("POST", HOOK_PATH, respond(200, until=answered), respond(200))
    # Tasks are noted, not run inline: the worker process below sends.
    queued: list = []
    monkeypatch.setattr(queue, "async_task", lambda *args, **kw: queued.append(args))
    monkeypatch.setattr(sweep, "enqueue", queued.append)
    # Committed: the outbox fans it out on commit.
    event = event_emit(name="payment.captured", payload={"order_id": "ord_1"})
    delivery = WebhookDelivery.objects.get(event=event)

    worker = _worker(delivery.pk)
    try:
        ends = time.monotonic() + 60
        while not receiver.requests_for("POST", HOOK_PATH):
            assert worker.poll() is None, "the worker ended before its POST"
            assert time.monotonic() < ends, "the worker's POST never came"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
        answered.set()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERING
    # Within the lease the sweeper leaves it; after it, takes it back.
    lease = settings.STOREFRONT_WEBHOOK_LEASE_SECONDS
    now = timezone.now()
    services.deliveries_sweep(now=now + timedelta(seconds=lease / 2))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERING
    services.deliveries_sweep(now=now + timedelta(seconds=lease + 1))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 1  # it may have been sent: it counts

    due = max(delivery.next_attempt_at, now + timedelta(seconds=lease + 1))
    status = services.delivery_send(delivery_id=delivery.pk, now=due)
    delivery.refresh_from_db()
    assert status == "delivered", delivery.last_error
    first, second = receiver.requests_for("POST", HOOK_PATH)
    assert first.header("webhook-id") == second.header("webhook-id")
    assert second.header("webhook-id") == delivery.public_id
    for request in (first, second):
        Webhook(secret).verify(request.body, request.headers)
