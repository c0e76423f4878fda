"""The per-test Redis flush (tests/conftest.py) is skipped only when nothing
can have written since the last one: a write from another thread while the
flush runs, or a flush that fails, leaves the next test flushing."""

import threading

import pytest

from tests.conftest import _REDIS_WRITES


class _Cache:
    def __init__(self, during) -> None:
        self.during = during

    def clear(self) -> None:
        _REDIS_WRITES.sent()  # the FLUSHDB's own send
        self.during()


def _from_another_thread() -> None:
    thread = threading.Thread(target=_REDIS_WRITES.sent)
    thread.start()
    thread.join()


def test_the_flushs_own_send_leaves_it_clean():
    _REDIS_WRITES.clear(_Cache(lambda: None))
    assert not _REDIS_WRITES.dirty


def test_another_threads_write_during_the_flush_is_flushed_next_time():
    _REDIS_WRITES.clear(_Cache(_from_another_thread))
    assert _REDIS_WRITES.dirty


def test_a_failed_flush_is_tried_again():
    def refused() -> None:
        raise ConnectionError("Redis went away")

    with pytest.raises(ConnectionError):
        _REDIS_WRITES.clear(_Cache(refused))
    assert _REDIS_WRITES.dirty
