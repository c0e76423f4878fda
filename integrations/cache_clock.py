"""Entries of the database cache (the fallback without Redis) that expire by
the database's clock (``integrations.clock``), not by each reader's.

Django's database cache stamps an entry's expiry with the writer's clock and
compares it with the reader's: a process whose clock runs ahead sees a held
lock or a throttle window as expired, one behind waits out a dead holder for
as long as it is behind. These few operations (cache_lock, the API throttle,
the breaker's claims and counters) do the same in one statement each (a
count: one transaction), on the database's time. The rows stay ordinary
cache entries (same table, key and encoding), so ``cache.clear`` and culling
still reach them.
"""

import base64
import logging
import pickle
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from redis.exceptions import RedisError

from integrations.clock import database_now
from integrations.redis_line import line_connects, outage, redis_handle

logger = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "DatabaseClockCache",
    "add",
    "atomic",
    "get",
    "get_locked",
    "get_many",
    "incr",
    "learn_redis_time",
    "on_database_cache",
    "redis_outage_guard",
    "redis_time_known",
    "redis_time_on_monotonic",
    "remove",
    "set_value",
    "shared_add",
    "shared_get",
    "shared_now",
]


class DatabaseClockCache(DatabaseCache):
    """settings.CACHES' database cache (no Redis). Its cull, run by a write
    once the table holds more than MAX_ENTRIES rows, deletes only the rows
    expired by the database's clock: Django's also deletes a share of the
    live ones in key order (a held lock dropped is two holders, a dropped
    bucket a fresh burst) and expires by the writer's clock."""

    def _cull(self, db: str, cursor: Any, now: datetime, num: int) -> None:
        connection = connections[db]
        table = connection.ops.quote_name(self._table)
        cursor.execute(
            f"DELETE FROM {table} WHERE expires < %s",  # noqa: S608
            [_stamp(connection)],
        )


def on_database_cache() -> bool:
    """Whether the default cache is the database cache."""
    return isinstance(caches["default"], DatabaseCache)


def shared_now() -> float:
    """The shared store's time, as a Unix timestamp: Redis's (learnt from a
    reply, carried forward; one TIME when not known), or without Redis the
    database's (this machine's on SQLite). The one clock of the limiter's
    fallback buckets and leases, the breaker's stamps and the webhook time
    checks, so each agrees with the store that expires what they keep."""
    handle = redis_handle()
    if handle is None:
        return database_now().timestamp()
    if not redis_time_known():
        learn_redis_time(handle.line.command("TIME"))
    return time.monotonic() + _redis_time["learnt"][0]


# Redis's time is learnt from a reply (a breaker read returns it: no round
# trip of its own) and carried forward by this host's monotonic clock (its
# wall clock's offset and steps do not matter; NTP-slewed rates differ by
# under 0.05%) for at most this long, and only until a line reconnects: a
# failover's server has its own clock.
_REDIS_TIME_MAX_AGE = 60.0
# Redis's time less time.monotonic(), the monotonic time learnt, and the
# count of line connects then (``line_connects``); one per process.
_redis_time: dict[str, tuple[float, float, int] | None] = {"learnt": None}


def redis_time_known() -> bool:
    """Whether Redis's time is learnt recently enough to be carried."""
    learnt = _redis_time["learnt"]
    return (
        learnt is not None
        and learnt[2] == line_connects()
        and time.monotonic() - learnt[1] < _REDIS_TIME_MAX_AGE
    )


def redis_time_on_monotonic(server_seconds: float) -> float | None:
    """Redis's time ``server_seconds`` on this host's monotonic clock, by the
    last time learnt (None before one was): for a deadline this process
    keeps while Redis cannot be asked."""
    learnt = _redis_time["learnt"]
    return None if learnt is None else server_seconds - learnt[0]


def learn_redis_time(server_time: list[Any]) -> None:
    """Learn Redis's time from a TIME reply (seconds, microseconds) just
    read; the line's connects are counted after it: a reconnect while
    sending it reached this server."""
    seconds, micros = (int(part) for part in server_time)
    server, local = seconds + micros / 1_000_000, time.monotonic()
    _redis_time["learnt"] = (server - local, local, line_connects())
    _note_skew(server - time.time())


# Redis's clock this far from the host's is a misconfigured clock on one of
# them (NTP keeps both within milliseconds): webhooks signed by the
# providers' true time would all be refused as stale by a Redis far off.
_REDIS_SKEW_WARNING_SECONDS = 60.0
_skew = {"off": False}


def _note_skew(skew: float) -> None:
    # Logged when it starts and ends, not at every relearning (each minute).
    off = abs(skew) > _REDIS_SKEW_WARNING_SECONDS
    if off == _skew["off"]:
        return
    _skew["off"] = off
    if off:
        logger.warning(
            "Redis's clock is %d s from this host's: the breaker, the limiter"
            " and the webhook time checks go by Redis's",
            round(skew),
            extra={"seconds": round(skew)},
        )
    else:
        logger.info("Redis's clock agrees with this host's again")


def shared_add(key: str, value: Any, ttl: float) -> bool:
    """``cache.add`` whose entry expires by the shared store's clock: Redis
    expires its own keys; the database cache by ``add`` here (Django's
    compares the writer's stamp with each reader's clock). On Redis it obeys
    the outage record (``redis_outage_guard``)."""
    if on_database_cache():
        return add(key, value, ttl)
    return redis_outage_guard(caches["default"].add, key, value, ttl)


def shared_get(key: str) -> Any:
    """``cache.get`` of an entry written by ``shared_add``."""
    if on_database_cache():
        return get(key)
    return redis_outage_guard(caches["default"].get, key)


def redis_outage_guard(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, a call on the default cache. On Redis: not
    made in an outage's pause (RedisPaused), a failure noted in the one
    outage record (one warning per outage) and raised, an answer ends it."""
    if redis_handle() is None:
        return call(*args, **kwargs)
    outage.check()
    try:
        result = call(*args, **kwargs)
    except RedisError as exc:
        outage.failed(exc)
        raise
    outage.answered()
    return result


def get(key: str) -> Any:
    """The entry's value, or None if missing or expired by the database's
    clock."""
    return get_many([key]).get(key)


def get_many(keys: list[str]) -> dict[str, Any]:
    """The values of the entries of ``keys`` live by the database's clock."""
    if not keys:
        return {}
    backend, connection, table = _parts()
    stored = {backend.make_and_validate_key(key): key for key in keys}
    marks = ", ".join(["%s"] * len(stored))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT cache_key, value FROM {table}"  # noqa: S608
            f" WHERE cache_key IN ({marks}) AND expires > %s",
            [*stored, _stamp(connection)],
        )
        rows = cursor.fetchall()
    return {stored[name]: _decode(connection, value) for name, value in rows}


def atomic() -> transaction.Atomic:
    """A transaction on the cache's database, for ``get_locked``."""
    return transaction.atomic(using=_parts()[1].alias)


def get_locked(key: str) -> Any:
    """``get``, the entry's row locked to the end of the transaction
    (``atomic``; a missing entry is stored expired to be locked): whoever
    reads it next waits for this transaction's write (SQLite: the file)."""
    backend, connection, table = _parts()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, %s, %s)"  # noqa: S608
            f" ON CONFLICT (cache_key) DO UPDATE SET expires = {table}.expires",
            [
                backend.make_and_validate_key(key),
                _encode(backend, None),
                _stamp(connection),
            ],
        )
    return get(key)


def add(key: str, value: Any, ttl: float) -> bool:
    """Store ``value`` for ``ttl`` seconds unless a live entry holds the key
    (an expired one is replaced); whether it was stored."""
    return _upsert(key, value, ttl, only_over_expired=True)


def set_value(key: str, value: Any, ttl: float) -> None:
    """Store ``value`` for ``ttl`` seconds, replacing any entry."""
    _upsert(key, value, ttl, only_over_expired=False)


def remove(key: str, value: Any) -> bool:
    """Delete the entry only if it still holds ``value`` (a lock's own
    token: it may have expired and been taken by another)."""
    backend, connection, table = _parts()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE cache_key = %s AND value = %s",  # noqa: S608
            [backend.make_and_validate_key(key), _encode(backend, value)],
        )
        return bool(cursor.rowcount)


def incr(key: str, ttl: float) -> int:
    """Add one to the count at ``key`` (missing or expired: 0) and keep it
    ``ttl`` seconds from now, as Redis's INCR and PEXPIRE; the new count.
    One transaction: the upsert locks the row (PostgreSQL: even when it
    leaves a live one alone; SQLite: the whole file), so no count is lost."""
    backend, connection, table = _parts()
    with transaction.atomic(using=connection.alias):
        _upsert(key, 0, ttl, only_over_expired=True)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT value FROM {table} WHERE cache_key = %s",  # noqa: S608
                [backend.make_and_validate_key(key)],
            )
            count = _decode(connection, cursor.fetchone()[0]) + 1
        _upsert(key, count, ttl, only_over_expired=False)
    return count


def _upsert(key: str, value: Any, ttl: float, *, only_over_expired: bool) -> bool:
    backend, connection, table = _parts()
    now = database_now()
    condition = f" WHERE {table}.expires <= %s" if only_over_expired else ""
    params = [
        backend.make_and_validate_key(key),
        _encode(backend, value),
        _stamp(connection, now + timedelta(seconds=ttl)),
    ]
    if only_over_expired:
        params.append(_stamp(connection, now))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, %s, %s)"  # noqa: S608
            " ON CONFLICT (cache_key) DO UPDATE"
            f" SET value = excluded.value, expires = excluded.expires{condition}",
            params,
        )
        return cursor.rowcount == 1


def _parts() -> tuple[DatabaseCache, Any, str]:
    backend = caches["default"]
    connection = connections[router.db_for_write(backend.cache_model_class)]
    return backend, connection, connection.ops.quote_name(backend._table)


def _encode(backend: DatabaseCache, value: Any) -> str:
    # As DatabaseCache encodes it, so cache.get reads the same value.
    pickled = pickle.dumps(value, backend.pickle_protocol)
    return base64.b64encode(pickled).decode("latin1")


def _decode(connection: Any, value: Any) -> Any:
    # Our own table, written as DatabaseCache writes it.
    text = connection.ops.process_clob(value)
    return pickle.loads(base64.b64decode(text.encode()))  # noqa: S301


def _stamp(connection: Any, when: datetime | None = None) -> Any:
    return connection.ops.adapt_datetimefield_value(when or database_now())
