"""The one Redis path of the breaker and the rate limiter: per thread, one
connection that skips redis-py's pool and client layers, Lua scripts run by
SHA, replies that decide nothing read later (docs/transport.md)."""

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    MasterDownError,
    MaxClientsReachedError,
    NoScriptError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from redis import Redis
    from redis.commands.core import Script

logger = logging.getLogger(__name__)

# Every line made and every (re)connection of one in this process, counted: a
# time learnt from Redis before the latest may be another server's (a
# failover reconnects; a new line may follow changed settings).
_connects = {"count": 0}
_connects_lock = threading.Lock()


def line_connects() -> int:
    """How many lines this process has made or (re)connected to Redis."""
    return _connects["count"]


def _count_connect() -> None:
    with _connects_lock:
        _connects["count"] += 1


def _unlock_connects_in_child() -> None:
    # A fork copies the lock as held if another thread was counting then.
    global _connects_lock
    _connects_lock = threading.Lock()


os.register_at_fork(after_in_child=_unlock_connects_in_child)


# The answers of a server a failover left behind (demoted: READONLY; a
# replica cut off from its primary: MASTERDOWN): the next connect may reach
# the new primary, so the line (and the task broker) drops its connection.
LEFT_BEHIND = (ReadOnlyError, MasterDownError)


class RedisLine:
    """This thread's own Redis connection for the per-call commands.

    A command sent with ``reply=False`` is not waited for: its reply is read
    before the next command on the line, so Redis applies this thread's
    commands in order and at most one reply is ever outstanding. A broken
    connection is reopened once per command; a lost unread reply is logged,
    never raised into a later, unrelated call.
    """

    def __init__(self, client: "Redis") -> None:
        self._pool = client.connection_pool
        self._conn: Any = None
        self._pid = 0
        self._pending = False
        # Django keeps a cache backend per thread, so this is uncontended; it
        # only guards against a backend shared across threads. Reentrant: a
        # finalizer the garbage collector runs mid-command on this thread (an
        # abandoned slot's release) gets in, and goes aside (``_busy``).
        self._lock = threading.RLock()
        self._busy = False
        _count_connect()

    @property
    def pending(self) -> bool:
        """True while a reply sent with ``reply=False`` is still unread."""
        return self._pending

    @property
    def connection(self) -> Any:
        """The underlying redis-py connection (None before first use)."""
        return self._conn

    def run(
        self, script: "Script", keys: list[str], args: list[Any], *, reply: bool = True
    ) -> Any:
        """Run ``script`` (raw keys); by SHA, loaded again on NOSCRIPT. An
        unanswered one goes by its text: its NOSCRIPT would come too late."""
        if not reply:
            return self._call(("EVAL", script.script, len(keys), *keys, *args), False)
        try:
            return self.command("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return self.command("EVAL", script.script, len(keys), *keys, *args)

    def command(self, *args: Any, reply: bool = True) -> Any:
        return self._call(args, reply)

    def _call(self, args: tuple[Any, ...], reply: bool) -> Any:
        with self._lock:
            if self._busy:
                return self._call_aside(args)
            self._busy = True
            try:
                return self._call_on_line(args, reply)
            finally:
                self._busy = False

    def _call_on_line(self, args: tuple[Any, ...], reply: bool) -> Any:
        conn = self._connection()
        self._settle(conn)
        try:
            return self._send(conn, args, reply)
        except LEFT_BEHIND:
            # A failover demoted or cut off this server: connect anew next
            # time (to the new primary once the address moves).
            conn.disconnect()
            raise
        except RedisConnectionError as exc:
            conn.disconnect()
            if _server_answered(exc):
                raise  # a new connection would get the same answer
            # A connection gone stale (server restarted): one new try.
            return self._send(conn, args, reply)

    def _call_aside(self, args: tuple[Any, ...]) -> Any:
        """``args`` on a pool connection of its own, its reply read: this
        thread re-entered mid-command, when the line's connection is between
        a command and its reply (waiting for the line would hang for good)."""
        conn = self._pool.get_connection()
        try:
            return self._send(conn, args, True)
        except BaseException:
            conn.disconnect()
            raise
        finally:
            self._pool.release(conn)

    def _send(self, conn: Any, args: tuple[Any, ...], reply: bool) -> Any:
        packed = _packed(args, conn.encoder)
        if packed is None:
            conn.send_command(*args)  # redis-py's packer: its checks, its errors
        else:
            conn.send_packed_command((packed,))
        if not reply:
            self._pending = True
            return None
        return conn.read_response()

    def _connection(self) -> Any:
        pid = os.getpid()
        if self._conn is None or self._pid != pid:
            # After a fork the parent's socket is not ours to use.
            self._conn, self._pid, self._pending = (
                self._pool.make_connection(),
                pid,
                False,
            )
            self._conn.register_connect_callback(self._connected)
        return self._conn

    def _connected(self, conn: Any) -> None:
        # redis-py calls this on every connect, the reconnects inside a send too.
        _count_connect()

    def close(self) -> None:
        """Close the connection (a next command opens a new one)."""
        with self._lock:
            if self._busy:
                return  # mid-command on this thread: that command owns it
            if self._conn is not None:
                self._conn.disconnect()
            self._conn, self._pending = None, False

    def _settle(self, conn: Any) -> None:
        if not self._pending:
            return
        self._pending = False
        try:
            if not conn.is_connected:
                raise RedisConnectionError("connection closed before the reply")
            conn.read_response()
        except (RedisConnectionError, RedisTimeoutError, OSError):
            # The connection went (a restart, an outage: warned once by
            # ``outage``) with one success count's reply; not per thread.
            conn.disconnect()
            logger.info("unanswered redis command may be lost: connection lost")
        except ResponseError as exc:  # refused (full, a bug): read, line fine
            if isinstance(exc, LEFT_BEHIND):
                conn.disconnect()
            outage.failed(exc)
        except Exception:  # an earlier command's reply: never raised into this one
            conn.disconnect()
            logger.warning("unanswered redis command may be lost", exc_info=True)


def _packed(args: tuple[Any, ...], encoder: Any) -> bytes | None:
    """The bytes redis-py's packer would send for ``args``, built here (its
    packer costs ~50 Python calls a command); None for anything but str,
    bytes, int and float arguments or a command name other than one word of
    a str, which go to redis-py's packer."""
    name = args[0]
    # redis-py splits a str name on any ASCII whitespace (a bytes one with a
    # space) and encodes it as UTF-8, whatever the encoder's encoding.
    if type(name) is not str or name.split() != [name]:
        return None
    name = name.encode()
    out = b"*%d\r\n$%d\r\n%s\r\n" % (len(args), len(name), name)
    for arg in args[1:]:
        kind = type(arg)
        if kind is str:
            arg = arg.encode(encoder.encoding, encoder.encoding_errors)
        elif kind is int:
            arg = b"%d" % arg
        elif kind is float:
            arg = repr(arg).encode()
        elif kind is not bytes:
            return None
        out += b"$%d\r\n%s\r\n" % (len(arg), arg)
    return out


# After a Redis call failed, the callers with a way round Redis take it this
# long before asking again: an outage costs a process one timeout and one
# warning per pause, not one per request.
OUTAGE_PAUSE_SECONDS = 10.0


# A command Redis keeps refusing (a wrong password, full) is an ERROR when a
# kind of refusal starts, then a reminder this often: it pages once, not
# once per process every pause for as long as it lasts.
REFUSED_REPEAT_SECONDS = 300.0


class RedisPaused(RedisConnectionError):
    """Not asked: Redis failed to answer this process moments ago."""


def is_outage(exc: Exception) -> bool:
    """True when Redis could not be reached (refused, timed out, loading, at
    its ``maxclients``), takes no writes for the moment (a failover's
    READONLY, a replica's MASTERDOWN, a primary short of the replicas
    ``min-replicas-to-write`` asks for: NOREPLICAS) or serves nothing until a
    script ends (BUSY): states that pass by themselves. False for a command
    it answered with an error: full (OOM), a wrong password or permission, a
    bug (WRONGTYPE, a script error). docs/transport.md."""
    if isinstance(exc, (AuthenticationError, AuthorizationError)):
        return False
    if _passing_state(exc):
        return True
    return isinstance(
        exc, (RedisConnectionError, RedisTimeoutError, ReadOnlyError, MasterDownError)
    )


# Error codes of server states that pass by themselves and that redis-py
# has no class for. Not BUSYGROUP, BUSYKEY: a stream's or a key's own refusal.
_PASSING_CODES = frozenset({"BUSY", "NOREPLICAS"})


def _passing_state(exc: Exception) -> bool:
    # A plain ResponseError keeps the code (redis-py 8: as status_code; a
    # pipeline puts its own words before the text).
    if not isinstance(exc, ResponseError):
        return False
    code = getattr(exc, "status_code", None)
    if code is None:
        code = str(exc).rpartition(_PIPELINE_SAID)[2].partition(" ")[0]
    return code in _PASSING_CODES


# How a redis-py pipeline words a command's error before Redis's own text.
_PIPELINE_SAID = " of pipeline caused error: "


def _server_answered(exc: Exception) -> bool:
    """True for the connection errors that are Redis's answer, not a lost
    connection: a refused password or permission, LOADING, max clients."""
    answers = (BusyLoadingError, MaxClientsReachedError)
    return not is_outage(exc) or isinstance(exc, answers)


class RedisOutage:
    """This process's record of a Redis outage, for the callers that have a
    way round it: ``check`` raises RedisPaused while the last failure is
    recent; logged once when it starts and once when it ends."""

    def __init__(self) -> None:
        self._failed_at: float | None = None
        # When each kind of refused command was last logged.
        self._refused_at: dict[str, float] = {}
        # Threads time out together: one of them starts the outage (and logs).
        # Reentrant: a finalizer run mid-update on this thread may report too.
        self._lock = threading.RLock()
        # A fork copies the lock as held if another thread had it then.
        os.register_at_fork(after_in_child=self._unlock_in_child)

    def _unlock_in_child(self) -> None:
        self._lock = threading.RLock()

    def check(self) -> None:
        failed_at = self._failed_at
        if failed_at is not None and (
            time.monotonic() - failed_at < OUTAGE_PAUSE_SECONDS
        ):
            raise RedisPaused("Redis unreachable moments ago: not asked")

    def failed(self, exc: Exception) -> None:
        if isinstance(exc, RedisPaused):
            return  # not asked: the pause runs from the last real failure
        if not is_outage(exc):
            self._refused(exc)
            return
        with self._lock:
            first = self._failed_at is None
            self._failed_at = time.monotonic()
        if first:  # one line, no traceback: every request would repeat it
            logger.warning(
                "Redis unreachable: not asked again for %d s; API rate limits"
                " per process, provider calls without breaker or rate limit,"
                " breaker states unknown, webhook times by this host's clock",
                OUTAGE_PAUSE_SECONDS,
                extra={"error": type(exc).__name__},
            )

    def _refused(self, exc: Exception) -> None:
        """A command Redis refused: no pause (it answers at once, and asking
        again notices the fix), an ERROR per kind once per
        ``REFUSED_REPEAT_SECONDS``."""
        kind = type(exc).__name__
        now = time.monotonic()
        with self._lock:
            last = self._refused_at.get(kind)
            if last is not None and now - last < REFUSED_REPEAT_SECONDS:
                return
            self._refused_at[kind] = now
        logger.error(
            "Redis refused a command (%s): provider calls without breaker or"
            " rate limit, API rate limits per process, until it takes them",
            str(exc)[:200],
            extra={"error": kind},
        )

    def answered(self) -> None:
        if self._failed_at is None:
            return
        with self._lock:
            ended = self._failed_at is not None
            self._failed_at = None
        if ended:
            logger.info("Redis answers again")

    def forget(self) -> None:
        """Ask Redis again at the next call, no outage logged (tests)."""
        self._failed_at = None
        self._refused_at.clear()


outage = RedisOutage()


@dataclass
class RedisHandle:
    """The line, the cache's serializer and the scripts, per cache backend."""

    line: RedisLine
    loads: Callable[[bytes], Any]
    client: "Redis"
    _scripts: dict[str, "Script"] = field(default_factory=dict)

    def script(self, lua: str) -> "Script":
        found = self._scripts.get(lua)
        if found is None:
            from redis.commands.core import Script

            found = self._scripts[lua] = Script(self.client, lua)
        return found

    def run(
        self, lua: str, keys: list[str], args: list[Any], *, reply: bool = True
    ) -> Any:
        """Run ``lua`` on raw ``keys`` (see ``raw_key``) over the line."""
        return self.line.run(self.script(lua), keys, args, reply=reply)


# Per cache backend object (Django keeps one per thread). Building a
# ``redis.Redis`` is ~0.1 ms and ``cache.*`` builds one per operation; the
# breaker and limiter run on every provider call, so they keep one.
_handles: "weakref.WeakKeyDictionary[Any, RedisHandle]" = weakref.WeakKeyDictionary()


# The handle this context found last, with what it was found for: the cache
# handler's storage (Django swaps it when CACHES changes), this thread and
# the handles' generation (``close_thread_connections`` closes some).
# ``caches["default"]`` costs ~10 Python calls (asgiref's Local) and a
# payment looks it up ~6 times (breaker, limiter, throttle, clock).
_memo: ContextVar[tuple[Any, int, int, "RedisHandle | None"] | None] = ContextVar(
    "switchyard_redis_handle", default=None
)
_generation = [0]


def redis_handle() -> RedisHandle | None:
    """This thread's handle on the default cache's Redis, or None if the
    cache is not Redis (callers then use the cache API under a lock)."""
    memo = _memo.get()
    if (
        memo is not None
        and memo[0] is caches._connections
        and memo[2] == _generation[0]
        and memo[1] == threading.get_ident()
    ):
        return memo[3]
    handle = _handle_found()
    _memo.set((caches._connections, threading.get_ident(), _generation[0], handle))
    return handle


def _handle_found() -> RedisHandle | None:
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    cache_client = backend._cache
    handle = _handles.get(cache_client)
    if handle is None:
        client = cache_client.get_client(write=True)
        handle = RedisHandle(
            line=RedisLine(client),
            loads=cache_client._serializer.loads,
            client=client,
        )
        _handles[cache_client] = handle
    return handle


def redis_client(key: str = "") -> "Redis | None":
    """The redis-py client behind the default cache, or None when the cache
    is not Redis; for the odd command off the hot path (scans, tests)."""
    handle = redis_handle()
    return None if handle is None else handle.client


def raw_key(key: str) -> str:
    """The key as Redis stores it (prefix and version applied), so values a
    script writes and ``cache.get`` reads are the same entry. Skips Django's
    per-character key validation (a memcached concern; these keys are ours)."""
    return caches["default"].make_key(key)


def close_thread_connections() -> None:
    """Close this thread's Redis connections (the cache's pool, the line), for
    a thread about to end: redis-py's connections sit in reference cycles, so
    they would stay open until the garbage collector's next full pass."""
    _generation[0] += 1  # no context keeps a closed handle
    for backend in caches.all(initialized_only=True):
        client = backend.__dict__.get("_cache")  # built on first use only
        if not isinstance(backend, RedisCache) or client is None:
            continue
        for pool in client._pools.values():
            pool.disconnect()
        handle = _handles.pop(client, None)
        if handle is not None:
            handle.line.close()
