"""Where one account's breaker state lives: Django's cache, and on Redis the
per-call reads and counts over the shared line (``integrations.redis_line``),
each one round trip. Its time is the store's (``now``), never a worker's."""

import math
import os
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from django.core.cache import cache

from integrations import cache_clock
from integrations.ratelimit import BUCKET_LUA, Reservation
from integrations.redis_line import raw_key, redis_handle

if TYPE_CHECKING:
    from integrations.ratelimit import RateLimiter

# Only guards against two processes announcing the same transition at once.
_TRANSITION_LOCK_SECONDS = 10

# KEYS[1] consecutive failures, KEYS[2..n+1] call buckets (current first),
# KEYS[n+2..2n+1] failure buckets. One round trip per recorded call.
COUNT_LUA = """
local n = tonumber(ARGV[2])
local ttl = ARGV[3]
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ttl)
if ARGV[1] == '0' then
  redis.call('DEL', KEYS[1])
  return {0, 0, 0}
end
redis.call('INCR', KEYS[n + 2])
redis.call('PEXPIRE', KEYS[n + 2], ttl)
local consec = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ttl)
local calls, fails = 0, 0
for i = 2, n + 1 do calls = calls + (tonumber(redis.call('GET', KEYS[i])) or 0) end
for i = n + 2, 2 * n + 1 do
  fails = fails + (tonumber(redis.call('GET', KEYS[i])) or 0)
end
return {consec, calls, fails}
"""

# A success: KEYS[1] consecutive failures, KEYS[2] the current call bucket.
# Only what a success changes, so the sent command stays short.
SUCCESS_LUA = """
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 0
"""

# KEYS[1] the breaker's mode, KEYS[2] its state; with Redis's TIME, the
# shared clock its decisions are made by (no round trip of its own).
READ_LUA = """
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('TIME')}
"""

# KEYS[1] the limiter's bucket, KEYS[2] the breaker's mode, KEYS[3] its state:
# the token bucket of integrations.ratelimit (unchanged, ARGV as there) plus
# the reads of before_call (READ_LUA's), in one round trip. Lua ``false`` (a
# missing key) comes back as None.
GATE_LUA = (
    "local mode = redis.call('GET', KEYS[2])\n"
    "local state = redis.call('GET', KEYS[3])\n"
    "local bucket = (function()\n" + BUCKET_LUA + "\nend)()\n"
    "return {bucket[1], bucket[2], mode, state, redis.call('TIME')}\n"
)
# Gives back the ARGV[2] tokens reserved for a call the breaker then refused.
REFUND_LUA = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens then
  tokens = math.min(tonumber(ARGV[1]), tokens + (tonumber(ARGV[2]) or 1))
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens))
end
return 1
"""


# The last mode and state record this process read per account pk, with the
# monotonic time of the read: batch work's failover pre-check may use a read
# this recent (the client's own check before the call is always fresh).
_recent: dict[int, tuple[float, Any, dict[str, Any] | None]] = {}


def forget_recent() -> None:
    """Drop every remembered read (tests; a cache cleared under us)."""
    _recent.clear()
    _known_open.clear()


# Per account pk, the monotonic time the open period ends of a breaker this
# process last read (or saved) open, and the thread holding its one try
# after that (None: none yet); used only while Redis cannot be read, so an
# account known open is not tried (costing its timeouts) on every call.
_KNOWN_OPEN_MAX = 1024
_known_open: "OrderedDict[int, tuple[float, int | None]]" = OrderedDict()
_known_open_lock = threading.Lock()


def _unlock_known_open_in_child() -> None:
    # A fork copies the lock as held if another thread was noting then.
    global _known_open_lock
    _known_open_lock = threading.Lock()


os.register_at_fork(after_in_child=_unlock_known_open_in_child)


def _note_state(pk: int, rec: dict[str, Any] | None) -> None:
    until = None
    if rec and rec.get("state") == "open" and rec.get("opened_until") is not None:
        until = cache_clock.redis_time_on_monotonic(rec["opened_until"])
    with _known_open_lock:
        if until is None:
            _known_open.pop(pk, None)
            return
        _known_open[pk] = (until, None)
        _known_open.move_to_end(pk)
        while len(_known_open) > _KNOWN_OPEN_MAX:
            _known_open.popitem(last=False)


class BreakerStore:
    """The cache entries of one account's breaker: mode, state record,
    windowed call and failure counters, probe claims, transition locks."""

    def __init__(self, pk: int, *, window_seconds: float, buckets: int) -> None:
        self.pk = pk
        self.prefix = _prefix(pk)
        self.window_seconds = window_seconds
        self.buckets = buckets
        self._state_key = f"{self.prefix}:state"
        self._mode_key = _mode_key(pk)
        self._consec_key = f"{self.prefix}:consec"
        self._raw_mode_key = raw_key(self._mode_key)
        self._raw_state_key = raw_key(self._state_key)
        # Raw keys are built once per bucket (or limiter), not on every call.
        self._count_keys_memo: tuple[str, list[str]] | None = None
        self._bucket_key_memo: tuple[str, str] | None = None

    # -- mode and state record --

    def read(self) -> tuple[Any, dict[str, Any] | None]:
        """The stored mode (None if never published) and state record."""
        at = time.monotonic()  # before the read: a slower read is the older
        handle = redis_handle()
        if handle is None:
            values = cache.get_many([self._mode_key, self._state_key])
            mode, state = values.get(self._mode_key), values.get(self._state_key)
        else:
            # One command on this thread's line, read exactly as get_many
            # would; with Redis's time when the one known is getting old.
            keys = [self._raw_mode_key, self._raw_state_key]
            if cache_clock.redis_time_known():
                raw = handle.line.command("MGET", *keys)
            else:
                *raw, server_time = handle.run(READ_LUA, keys, [])
                cache_clock.learn_redis_time(server_time)
            mode, state = (None if v is None else handle.loads(v) for v in raw)
        self._remember(at, mode, state)
        return mode, state

    def recent(self, max_age: float) -> tuple[Any, dict[str, Any] | None]:
        """``read()``, or what this process read at most ``max_age`` seconds
        ago (saving the round trip)."""
        seen = _recent.get(self.pk)
        if seen is not None and time.monotonic() - seen[0] <= max_age:
            return seen[1], seen[2]
        return self.read()

    def now(self) -> float:
        """The shared store's time (Unix seconds, ``cache_clock.shared_now``):
        Redis's (learnt with a read, carried forward), or the database's on
        the cache fallback. Every process compares the breaker's stamps by
        it, so a worker whose clock is off neither reopens early nor holds
        it open too long."""
        return cache_clock.shared_now()

    def _remember(self, at: float, mode: Any, state: dict[str, Any] | None) -> None:
        seen = _recent.get(self.pk)
        if seen is None or seen[0] <= at:  # never over a newer read
            _recent[self.pk] = (at, mode, state)
            _note_state(self.pk, state)

    def known_open(self) -> float | None:
        """Seconds the breaker stays open by the state this process last
        read, or None (not known open, or its open period is over): for
        while Redis cannot be read."""
        kept = _known_open.get(self.pk)
        left = None if kept is None else kept[0] - time.monotonic()
        return left if left is not None and left > 0 else None

    def admit_kept(self, try_seconds: float, *, claim: bool) -> float | None:
        """Seconds a call must wait by the state this process keeps, or None
        (it may go). Once the open period is over one thread's call is the
        try (``claim``; for ``try_seconds``, then another may try), as the
        half-open probe is; the others wait for its outcome. Without
        ``claim`` (a pre-check) only the open period refuses."""
        with _known_open_lock:
            kept = _known_open.get(self.pk)
            if kept is None:
                return None
            (until, holder), now = kept, time.monotonic()
            me = threading.get_ident()
            if now < until and (holder is None or (claim and holder != me)):
                return until - now
            if claim and now >= until:
                _known_open[self.pk] = (now + try_seconds, me)
            return None

    def note_outcome(self, failed: bool | None, open_seconds: float) -> None:
        """A call's outcome for the state this process keeps: a success
        forgets a known-open breaker; a failure of the try (or once its
        open period is over) holds it open for another ``open_seconds``;
        the try refused before it reached the provider (``failed`` None)
        frees the next try at once, as a released probe does."""
        if self.pk not in _known_open:
            return
        with _known_open_lock:
            kept = _known_open.get(self.pk)
            now = time.monotonic()
            if kept is None:
                return
            if failed is None:
                if kept[1] == threading.get_ident():
                    _known_open[self.pk] = (now, None)
            elif not failed:
                _known_open.pop(self.pk, None)
            elif kept[1] is not None or now >= kept[0]:
                _known_open[self.pk] = (now + open_seconds, None)

    def record(self) -> dict[str, Any] | None:
        return cache.get(self._state_key)

    def save_record(self, rec: dict[str, Any]) -> None:
        cache.set(self._state_key, rec, None)
        _recent.pop(self.pk, None)
        _note_state(self.pk, rec)

    def save_mode(self, mode: str) -> None:
        cache.set(self._mode_key, mode, None)
        _recent.pop(self.pk, None)

    def lock_transition(self, gen: int) -> bool:
        # Several processes may see the same threshold crossed; one acts.
        key = f"{self.prefix}:trans:{gen}"
        return _add(key, _TRANSITION_LOCK_SECONDS)

    def claim(self, key: str, ttl: int) -> bool:
        return _add(f"{self.prefix}:{key}", ttl)

    def unclaim(self, key: str) -> None:
        cache.delete(f"{self.prefix}:{key}")

    # -- the gate: breaker reads and a token in one round trip --

    def gate(
        self, limiter: "RateLimiter", weight: float, max_wait: float | None = None
    ) -> tuple[Reservation, Any, dict[str, Any] | None] | None:
        """Reserve ``weight`` of ``limiter``'s tokens (waiting at most
        ``max_wait``, default the limiter's bound) and read mode and state in
        one script; None when there is no Redis or no rate limit."""
        if limiter.config.rate is None:
            return None
        handle = redis_handle()
        if handle is None:
            return None
        at = time.monotonic()
        granted, wait, mode_raw, state_raw, server_time = handle.run(
            GATE_LUA,
            [self._raw_bucket_key(limiter), self._raw_mode_key, self._raw_state_key],
            limiter.bucket_args(weight, max_wait),
        )
        mode = None if mode_raw is None else handle.loads(mode_raw)
        rec = None if state_raw is None else handle.loads(state_raw)
        cache_clock.learn_redis_time(server_time)
        self._remember(at, mode, rec)
        return Reservation(bool(int(granted)), float(wait)), mode, rec

    def refund(self, limiter: "RateLimiter", weight: float) -> None:
        """Give back tokens reserved by ``gate`` for a call that never went."""
        handle = redis_handle()
        if handle is not None:
            keys = [self._raw_bucket_key(limiter)]
            handle.run(REFUND_LUA, keys, [repr(limiter.config.burst), weight])

    def _raw_bucket_key(self, limiter: "RateLimiter") -> str:
        memo = self._bucket_key_memo
        if memo is None or memo[0] != limiter.bucket_key:
            memo = (limiter.bucket_key, raw_key(limiter.bucket_key))
            self._bucket_key_memo = memo
        return memo[1]

    # -- counting --

    def bucket_keys(self, now: float) -> tuple[list[str], list[str]]:
        width = self.window_seconds / self.buckets
        current = int(now // width)
        indexes = range(current, current - self.buckets, -1)
        calls = [f"{self.prefix}:calls:{i}" for i in indexes]
        fails = [f"{self.prefix}:fails:{i}" for i in indexes]
        return calls, fails

    def count(self, now: float, *, failed: bool) -> tuple[int, int, int]:
        """Count one call; for a failure return (consecutive, calls, failures)
        over the window, else zeros."""
        calls, fails = self.bucket_keys(now)
        ttl = self.window_seconds * (1 + 1 / self.buckets)
        handle = redis_handle()
        if handle is None:
            return self._count_generic(failed, calls, fails, math.ceil(ttl))
        keys = self._raw_count_keys(calls, fails)
        if not failed:
            # Nothing to decide on a success: sent now, in order with this
            # thread's other breaker commands, its reply read later.
            ttl_ms = math.ceil(ttl * 1000)
            handle.run(SUCCESS_LUA, keys[:2], [ttl_ms], reply=False)
            return 0, 0, 0
        args = ["1", self.buckets, math.ceil(ttl * 1000)]
        result = handle.run(COUNT_LUA, keys, args)
        return int(result[0]), int(result[1]), int(result[2])

    def reset_counts(self, now: float) -> None:
        calls, fails = self.bucket_keys(now)
        cache.delete_many([self._consec_key, *calls, *fails])

    def _raw_count_keys(self, calls: list[str], fails: list[str]) -> list[str]:
        memo = self._count_keys_memo
        if memo is None or memo[0] != calls[0]:
            raw = [raw_key(k) for k in (self._consec_key, *calls, *fails)]
            memo = self._count_keys_memo = (calls[0], raw)
        return memo[1]

    def _count_generic(
        self, failed: bool, calls: list[str], fails: list[str], ttl: int
    ) -> tuple[int, int, int]:
        # The database cache: atomic counts that expire by its clock, as
        # COUNT_LUA's on Redis (Django's incr reads, then sets for 300 s).
        on_database = cache_clock.on_database_cache()
        incr = cache_clock.incr if on_database else _incr
        get_many = cache_clock.get_many if on_database else cache.get_many
        incr(calls[0], ttl)
        if not failed:
            cache.delete(self._consec_key)
            return 0, 0, 0
        incr(fails[0], ttl)
        consec = incr(self._consec_key, ttl)
        values = get_many(calls + fails)
        total = sum(int(values.get(k) or 0) for k in calls)
        failures = sum(int(values.get(k) or 0) for k in fails)
        return consec, total, failures


def published_modes(pks: list[int]) -> dict[int, Any]:
    """The mode each account ``pk``'s breaker published (None: none), read
    together: one pipeline on Redis (raises RedisError), else one
    ``get_many`` (one query on the database cache)."""
    keys = {pk: _mode_key(pk) for pk in pks}
    handle = redis_handle()
    if handle is None:
        found = cache.get_many(list(keys.values()))
        return {pk: found.get(key) for pk, key in keys.items()}
    pipe = handle.client.pipeline(transaction=False)
    for key in keys.values():
        pipe.get(raw_key(key))
    raw = pipe.execute()
    return {
        pk: None if value is None else handle.loads(value)
        for pk, value in zip(keys, raw, strict=True)
    }


def _prefix(pk: int) -> str:
    return f"brk:{{acct:{pk}}}"  # one Redis Cluster slot


def _mode_key(pk: int) -> str:
    return f"{_prefix(pk)}:mode"


def _add(key: str, ttl: int) -> bool:
    """A claim for ``ttl`` seconds; on the database cache by its clock (each
    reader's own would let a process ahead take one that is held)."""
    return cache_clock.shared_add(key, 1, ttl)


def _incr(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:
        # Expired between add and incr: this call starts the count.
        cache.set(key, 1, ttl)
        return 1
