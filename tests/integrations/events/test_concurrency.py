"""Two workers (and a sweeper) racing for one delivery on PostgreSQL."""

import threading

import pytest
from django.db import connections

from integrations import task_batcher
from integrations.events import event_delivery_run, event_emit
from tests.integrations.events import subscribers
from tests.integrations.events.conftest import SUBS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_workers_deliver_once(settings, monkeypatch):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        "payment.captured": [f"{SUBS}.wait_for_gate"]
    }
    # Outside a transaction the on-commit task would run at once; drop it so
    # both workers below start from a pending delivery.
    monkeypatch.setattr(task_batcher, "async_task", lambda *args, **kwargs: None)
    event = event_emit(name="payment.captured", payload={})
    delivery_id = event.deliveries.get().pk
    barrier = threading.Barrier(2)
    results: list[object] = []

    def work() -> None:
        try:
            barrier.wait()
            results.append(event_delivery_run(delivery_id=delivery_id))
            subscribers.GATE.set()  # the loser lets the winner finish
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results.count(None) == 1 and "delivered" in results
    assert len(subscribers.calls) == 1
