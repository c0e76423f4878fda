"""A flush waits for the batch the background thread already took: its
caller (the exit hook, the after-task hook, a test counting call-log rows)
reads what was sent, and a batch mid-send was not yet (a fan-out test saw
4 call-log rows of 5 after flush)."""

import threading
from collections.abc import Sequence
from typing import Any

from integrations.task_batcher import BackgroundBatcher


class SlowBatcher(BackgroundBatcher):
    def __init__(self) -> None:
        super().__init__(linger=lambda: 0.001, name="slow-test")
        self.started = threading.Event()
        self.release = threading.Event()
        self.sent: list[Any] = []

    def send(self, items: Sequence[Any]) -> bool:
        self.started.set()
        self.release.wait(5)
        self.sent.extend(items)
        return True


def test_a_flush_returns_after_the_batch_the_thread_is_sending():
    batcher = SlowBatcher()
    batcher.add("row")
    assert batcher.started.wait(5)  # the thread took it and is sending
    threading.Timer(0.3, batcher.release.set).start()
    batcher.flush()
    assert batcher.sent == ["row"]
