"""The delivery whose failure opens its endpoint's breaker returns at once,
even while the outbox's background thread is running a batch of events
inline (django-q2 run synchronously, as in the suite).

The breaker's opening is an event; with Q_SYNC its task runs in the
delivery's worker and ends with ``post_execute_in_worker``, whose hook
flushes the outbox's batcher and waits for the batch its thread is sending.
That thread, having run its own batch inline, was in the same hook waiting
for that same batch: it waited out the flush's 30 s, and the delivery with
it (stall48: test_hooks20_one_worker's hung endpoint took 24 s, not 1.5).
The batch is one left queued for the thread by an earlier test that had
tasks go through a broker (Conf.SYNC off) and sent once it was back on."""

import time

import pytest

from integrations import events
from integrations.breaker import breaker_for
from integrations.models import DeliveryStatus, EventDelivery
from integrations.task_batcher import TaskBatcher
from integrations.testing.faultserver import respond
from storefront_hooks import services
from tests.storefront_hooks.cap_setup import made_row_id
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db(transaction=True)

READ = 0.3  # each attempt a read timeout
# Far above what the breaker's opening takes, far below the flush's 30 s.
GENEROUS = 15.0


class LeftoverBatcher(TaskBatcher):
    """The outbox's batcher whose first item waits for its thread (queued
    while tasks went through a broker); the thread then runs it inline."""

    def __init__(self) -> None:
        super().__init__(
            events.DELIVER_BATCH_TASK, linger=lambda: 0.0, max_batch=10, name="t"
        )
        self.leftover = True

    def inline(self) -> bool:
        if self.leftover:
            self.leftover = False
            return False
        return super().inline()


def _wait_delivered(event_pk: int) -> None:
    rows = EventDelivery.objects.filter(event_id=event_pk)
    give_up = time.monotonic() + GENEROUS
    while rows.exclude(status=DeliveryStatus.DELIVERED).exists() or not rows:
        assert time.monotonic() < give_up, list(rows.values_list("status"))
        time.sleep(0.05)


def test_the_delivery_that_opens_the_breaker_returns_at_once(
    settings, monkeypatch, make_endpoint, receiver
):
    monkeypatch.setattr(events, "_batcher", LeftoverBatcher())
    leftover = events.event_emit(name="payment.captured", payload={})
    _wait_delivered(leftover.pk)  # run inline by the batcher's thread
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = READ
    receiver.route("POST", HOOK_PATH, respond(200, latency=3 * READ))  # too late
    hung = make_endpoint()[0]
    tripped_after = settings.BREAKER_CONSECUTIVE_FAILURES
    rows = [made_row_id(hung) for _ in range(tripped_after)]
    for delivery_id in rows[:-1]:
        services.delivery_send(delivery_id=delivery_id)

    started = time.monotonic()
    status = services.delivery_send(delivery_id=rows[-1])
    took = time.monotonic() - started

    assert status == DeliveryStatus.FAILED
    assert breaker_for(hung.account).is_open()
    assert took < GENEROUS, took
