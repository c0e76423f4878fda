"""A flush made by the batcher's own background thread (a django-q2 task it
ran inline ends with ``post_execute_in_worker``, whose hook flushes the
outbox's batcher) does not wait for the batch that thread is sending: that
batch cannot end while it waits. It waited out its 30 s, and a worker whose
task flushed meanwhile waited with it (stall48: a storefront delivery whose
breaker opened returned 22 s late)."""

import threading
from collections.abc import Sequence
from typing import Any

from integrations.task_batcher import BackgroundBatcher

# Far above what the batch takes (milliseconds), far below the flush's 30 s.
GENEROUS = 15.0


class FlushingBatcher(BackgroundBatcher):
    """Its send ends by flushing the batcher, as a task run inline does."""

    def __init__(self) -> None:
        super().__init__(linger=lambda: 0.001, name="stall48-test")
        self.sent: list[Any] = []
        self.started = threading.Event()
        self.done = threading.Event()

    def send(self, items: Sequence[Any]) -> bool:
        self.started.set()
        self.sent.extend(items)
        self.flush()
        self.done.set()
        return True


def test_the_threads_own_flush_does_not_wait_for_its_own_batch():
    batcher = FlushingBatcher()
    batcher.add("row")
    assert batcher.done.wait(GENEROUS)
    assert batcher.sent == ["row"]


def test_another_threads_flush_returns_when_the_threads_batch_is_sent():
    batcher = FlushingBatcher()
    batcher.add("row")
    assert batcher.started.wait(GENEROUS)  # the thread took it and is sending
    batcher.flush(wait_seconds=GENEROUS)
    assert batcher.done.is_set()
