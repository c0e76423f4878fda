"""Enqueue many small django-q2 tasks as a few batch tasks, off the request.

``BackgroundBatcher`` is the machinery (one thread per process, fork-safe,
flushed at exit); ``TaskBatcher`` sends to django-q2, and the call log's
writer (``integrations.call_log``) writes rows.

``async_task`` costs about 0.2 ms of CPU per call (naming, pickling, signing,
a Redis round trip); on the webhook intake that was a sixth of a request. A
``TaskBatcher`` instead hands each item to one background thread per process,
which waits ``linger`` seconds for more to arrive and then enqueues one task
per ``max_batch`` items. Under load a task carries tens of items; when quiet,
one, ``linger`` later.

Only work backed by a committed row goes through here: if the process dies
before its thread has sent an item, the row is still there and the sweeper
enqueues it again (as it does when the broker loses a task). At interpreter
exit (a graceful worker restart) what is pending is sent at once.
"""

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Any

from django.db import connections
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.tasks import async_task
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


@cache
def shared_broker() -> Broker:
    """One broker (and Redis connection pool) per process.

    ``async_task`` otherwise builds a new broker per call, which on Redis is a
    new client, pool and TCP connection per enqueued task.
    """
    return get_broker()


def enqueue_failed(
    what: str,
    exc: Exception,
    extra: dict[str, Any],
    *,
    kept: str = "left for the sweeper",
) -> None:
    """Log an enqueue the broker refused, its row ``kept`` (by default, left
    for its sweeper): Redis's failure at INFO (the outage record warned once
    per outage, or logged a refused command as an ERROR), any other as an
    ERROR."""
    if isinstance(exc, RedisError):
        logger.info(
            "%s not enqueued (Redis: %s); %s",
            what,
            type(exc).__name__,
            kept,
            extra=extra,
        )
    else:
        logger.error("%s enqueue failed; %s", what, kept, exc_info=exc, extra=extra)


class BackgroundBatcher:
    """Hand items to one background thread per process, which waits
    ``linger`` seconds for more to arrive and then calls ``send`` once per
    ``max_batch`` items. Subclasses say what sending is."""

    def __init__(
        self,
        *,
        linger: Callable[[], float],
        max_batch: int = 100,
        name: str,
        idle_seconds: float | None = None,
    ) -> None:
        self.name = name
        self.idle_seconds = idle_seconds
        self._linger = linger
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        # Batches the background thread has taken and not finished sending:
        # flush waits for them (its caller reads what was sent).
        self._sent = threading.Condition(self._lock)
        self._taken = 0
        self._items: list[Any] = []
        self._pid: int | None = None
        self._thread: threading.Thread | None = None

    def send(self, items: Sequence[Any]) -> bool:
        """Deliver ``items``; False (logged) if that failed."""
        raise NotImplementedError

    def inline(self) -> bool:
        """True when ``add`` sends at once, from the calling thread."""
        return self._linger() <= 0

    def after_batch(self) -> None:
        """Called by the background thread after each batch."""

    def on_idle(self) -> None:
        """Called by the background thread after ``idle_seconds`` without
        items (never when that is None)."""

    def add(self, item: Any) -> None:
        """Send ``item`` soon (at once when ``inline()``)."""
        if self.inline():
            self.send([item])
            return
        with self._lock:
            if self._pid != os.getpid():
                self._start()
            self._items.append(item)
            if len(self._items) == 1:
                self._arrived.notify()

    def flush(self, wait_seconds: float = 30.0) -> int:
        """Send whatever is pending now, from the calling thread, and wait
        (at most ``wait_seconds``) for a batch the background thread took;
        called from that thread, return without waiting."""
        with self._lock:
            items, self._items = self._items, []
        self._send_all(items)
        # Not in a forked child (its copy of the thread never ends), nor in
        # the thread itself (a task it ran inline ends in a flush): its own
        # batch cannot end while it waits for it.
        own = threading.current_thread() is self._thread
        if self._pid == os.getpid() and not own:
            with self._lock:
                self._sent.wait_for(lambda: not self._taken, timeout=wait_seconds)
        return len(items)

    def _start(self) -> None:
        # First use in this process, or a forked child (a gunicorn worker):
        # what the parent had pending is the parent's to send.
        self._items = []
        self._taken = 0
        self._pid = os.getpid()
        self._thread = threading.Thread(
            target=self._run, name=f"batcher:{self.name}", daemon=True
        )
        self._thread.start()
        atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            if not self._wait_for_items():
                self.on_idle()
                continue
            time.sleep(self._linger())  # let the batch fill
            with self._lock:
                items, self._items = self._items, []
                self._taken += 1
            try:
                self._send_all(items)
                self.after_batch()
            except Exception:
                # The thread's job boundary: it must outlive a bad batch, or
                # every later item would pile up unsent.
                logger.exception(
                    "background batch failed",
                    extra={"batcher": self.name, "count": len(items)},
                )
            finally:
                with self._lock:
                    self._taken -= 1
                    self._sent.notify_all()

    def _wait_for_items(self) -> bool:
        with self._lock:
            if not self._items:
                self._arrived.wait(timeout=self.idle_seconds)
            return bool(self._items)

    def _send_all(self, items: list[Any]) -> None:
        for start in range(0, len(items), self._max_batch):
            self.send(items[start : start + self._max_batch])


class TaskBatcher(BackgroundBatcher):
    """Send items to the django-q2 task ``func`` (dotted path), which takes
    one argument: a list of items."""

    def __init__(
        self,
        func: str,
        *,
        linger: Callable[[], float],
        max_batch: int = 100,
        name: str = "",
    ) -> None:
        super().__init__(linger=linger, max_batch=max_batch, name=name or func)
        self.func = func

    def inline(self) -> bool:
        # django-q2 running tasks synchronously (the tests): at once.
        return super().inline() or Conf.SYNC

    def send(self, items: Sequence[Any]) -> bool:
        """Enqueue one task with ``items``; False (logged) if the broker
        failed, in which case the sweeper will find the rows."""
        try:
            async_task(self.func, list(items), broker=shared_broker())
        except Exception as exc:
            enqueue_failed("task", exc, {"task": self.name, "count": len(items)})
            return False
        return True

    def after_batch(self) -> None:
        # With the ORM broker the enqueue opened this thread's own database
        # connection; nothing else would ever close it.
        connections.close_all()


def run_each(
    items: Sequence[Any],
    run: Callable[[Any], Any],
    *,
    crashed: str,
    extra: Callable[[Any], dict[str, Any]],
    log: logging.Logger,
    within: Callable[[Any], AbstractContextManager[Any]] | None = None,
) -> list[Any]:
    """A batch task's items in turn, each on its own: one that raises is
    logged on ``log`` (``crashed``, with ``extra(item)``) and gives None, and
    the rest go on; its row is left for the sweeper. ``within(item)``: a
    context the item runs and is logged in (its correlation id)."""
    results: list[Any] = []
    for item in items:
        with within(item) if within is not None else nullcontext():
            try:
                results.append(run(item))
            except Exception:
                log.exception(crashed, extra=extra(item))
                results.append(None)
    return results
