"""pay33: the per-account client stores (``integrations.client.store``) are
safe across a fork. Workers fork (django-q, gunicorn) at any moment of the
parent's threads: a child forked while another thread held a store's lock
(or the sweep's) got a copy of the lock held by no thread of its own, and
its first ``client_for`` waited for ever. Real forks: the child exits 0 if
its calls return, the parent asserts that (a hung child is killed)."""

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from integrations.client import client_for, core, store
from integrations.models import ProviderAccount
from notifications.providers import amazon_ses


def _exit_status(pid: int, wait: float) -> int | None:
    give_up = time.monotonic() + wait
    while time.monotonic() < give_up:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


@contextmanager
def held_by_another_thread(*locks: threading.Lock) -> Iterator[None]:
    """``locks`` held by a thread of this process until the block ends."""
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with ExitStack() as stack:
            for lock in locks:
                stack.enter_context(lock)
            holding.set()
            done.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert holding.wait(5)
    try:
        yield
    finally:
        done.set()
        thread.join(5)


def forked_status(child: Callable[[], None]) -> int | None:
    """Fork; the child runs ``child`` and exits 0 if it returned."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            child()
            status = 0
        finally:
            os._exit(status)
    return _exit_status(pid, wait=10)


def test_a_child_forked_while_a_store_is_locked_gets_its_client():
    account = ProviderAccount(pk=2_147_480_033, slug="fork33", settings={})

    def child() -> None:
        store._swept["at"] = float("-inf")  # this call sweeps too
        assert client_for(account) is client_for(account)

    with held_by_another_thread(core._store.lock, store._sweep_lock):
        assert forked_status(child) == 0


def test_every_store_and_its_alias_is_unlocked_in_the_child():
    # Amazon SES's store, read through the alias its module keeps.
    locks = [s.lock for s in store._stores]

    def child() -> None:
        with amazon_ses._clients_lock, core._clients_lock:
            pass
        for account_store in store._stores:
            account_store.drop_account(-1)
        store.close_all()

    with held_by_another_thread(*locks):
        assert forked_status(child) == 0
    # The parent's locks are its own again, and free.
    assert not any(lock.locked() for lock in locks)
