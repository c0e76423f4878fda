"""The process's per-account objects that hold a keep-alive connection pool
(``client_for``'s ProviderClient, Amazon SES's boto3 client): one store
each, following the account's state without a query on the call path.

- Saved disabled or deleted in this process: its entries are closed once
  that commits (``post_save``/``post_delete``).
- Changed in another process: no signal comes here. A disabled or deleted
  account is no longer called, so its entries are closed once unused for
  ``IDLE_SECONDS`` (looked for in every store at most every
  ``SWEEP_SECONDS``, by the next ``client_for`` of any account: a store's
  own calls may never come again). What is derived from the row (timeouts, a
  credential) is compared with the row each call hands in (the owner's
  job), so a changed key or timeout reaches the next call.
"""

import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from django.db import transaction

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Long past any provider's keep-alive timeout (60-120 s): the pool an idle
# entry holds is dead by then, so rebuilding it costs nothing a reuse would not.
IDLE_SECONDS = 600.0
SWEEP_SECONDS = 60.0

# Tests move it.
clock: Callable[[], float] = time.monotonic

_stores: list["AccountStore[Any, Any]"] = []
# When the stores were last looked through (``sweep``).
_swept = {"at": clock()}
_sweep_lock = threading.Lock()


def _itself(key: Any) -> Any:
    return key


class AccountStore(Generic[K, V]):
    """Entries by key (``pk_of(key)`` is the account's pk); ``close(value)``
    ends a dropped one. Callers read ``entries`` under ``lock`` and mark a
    use with ``used``; ``put`` and the module's ``sweep`` do the rest."""

    def __init__(
        self, close: Callable[[V], None], pk_of: Callable[[K], int] = _itself
    ) -> None:
        self.entries: dict[K, V] = {}
        self.lock = threading.Lock()
        self._close = close
        self._pk_of = pk_of
        self._last_used: dict[K, float] = {}
        _stores.append(self)

    def used(self, key: K) -> None:
        """Mark ``key`` as used now (``lock`` held)."""
        self._last_used[key] = clock()

    def put(self, key: K, value: V) -> list[V]:
        """Store ``value`` (``lock`` held); the account's entries it replaces,
        for the caller to ``close`` once the lock is released."""
        pk = self._pk_of(key)
        replaced = [self._pop(k) for k in list(self.entries) if self._pk_of(k) == pk]
        self.entries[key] = value
        self.used(key)
        return [old for old in replaced if old is not value]

    def close(self, values: list[V]) -> None:
        for value in values:
            self._close(value)

    def drop_account(self, pk: int) -> None:
        with self.lock:
            gone = [self._pop(k) for k in list(self.entries) if self._pk_of(k) == pk]
        self.close(gone)

    def drop_idle(self, now: float) -> None:
        """Close the entries unused for ``IDLE_SECONDS`` at ``now``."""
        with self.lock:
            # Marks of entries cleared from outside go too.
            for key in [k for k in self._last_used if k not in self.entries]:
                del self._last_used[key]
            idle = [
                key
                for key in self.entries
                if now - self._last_used.get(key, now) >= IDLE_SECONDS
            ]
            gone = [self._pop(key) for key in idle]
        self.close(gone)

    def clear(self) -> None:
        """Close every entry (``close_all``)."""
        with self.lock:
            gone = [self._pop(key) for key in list(self.entries)]
            self._last_used.clear()
        self.close(gone)

    def _pop(self, key: K) -> V:
        self._last_used.pop(key, None)
        return self.entries.pop(key)


def sweep() -> None:
    """Close every store's entries unused for ``IDLE_SECONDS``; at most every
    ``SWEEP_SECONDS`` (one clock read otherwise)."""
    now = clock()
    if now - _swept["at"] < SWEEP_SECONDS:
        return
    with _sweep_lock:
        if now - _swept["at"] < SWEEP_SECONDS:
            return
        _swept["at"] = now
    for account_store in list(_stores):
        account_store.drop_idle(now)


def close_all() -> None:
    """Close every store's entries; the next call sweeps (the test suite,
    after each test: a time a moved ``clock`` set must not outlive it)."""
    for account_store in list(_stores):
        account_store.clear()
    _swept["at"] = float("-inf")


def _unlock_in_child() -> None:
    """A fork copies a lock as held if another thread had it then, and no
    thread of the child ever lets it go: the child's first ``client_for``
    would wait for ever (django-q workers fork). Freed in place, not
    replaced: modules keep the store's lock under a name of their own."""
    for lock in (_sweep_lock, *(account_store.lock for account_store in _stores)):
        if lock.locked():
            lock.release()
    # The parent's entries hold sockets the fork shares with it: a request of
    # each on one crosses the answers. Forgotten, not closed (the parent's).
    for account_store in _stores:
        account_store.entries.clear()
        account_store._last_used.clear()


os.register_at_fork(after_in_child=_unlock_in_child)


def _account_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    deleted = "created" not in kwargs
    if not deleted and instance.enabled:
        return
    pk = instance.pk

    def drop() -> None:
        for account_store in _stores:
            account_store.drop_account(pk)

    # After the commit: a rollback leaves the account as it was (a drop would
    # be harmless, but a call before the commit would build it again).
    transaction.on_commit(drop, using=kwargs.get("using"))


def connect_signals() -> None:
    """From ``IntegrationsConfig.ready``."""
    from django.db.models.signals import post_delete, post_save

    from integrations.models import ProviderAccount

    uid = "client_store.account"
    post_save.connect(_account_changed, sender=ProviderAccount, dispatch_uid=uid)
    post_delete.connect(_account_changed, sender=ProviderAccount, dispatch_uid=uid)
