"""Per-account rate limit (token bucket with weighted tokens) and concurrency
cap, shared by every process through the cache: on Redis one Lua script per
decision over ``integrations.redis_line``, elsewhere the same arithmetic under
a short cache lock. Settings, pacing and fairness: docs/transport.md."""

import logging
import math
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from redis.exceptions import RedisError

from integrations import cache_clock
from integrations.errors import NotProcessed, Paced, RedisUnreachable
from integrations.limits import limit_values
from integrations.redis_line import outage, raw_key, redis_client, redis_handle
from integrations.store_guard import store_failed

if TYPE_CHECKING:
    from integrations.models import ProviderAccount

__all__ = [
    "BUCKET_LUA",
    "SERVER_NOW_LUA",
    "LimitConfig",
    "RateLimiter",
    "Reservation",
    "cache_lock",
    "limiter_for",
    "raw_key",
    "redis_client",
    "reserve_token",
    "run_script",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# A fallback lock is held for a few cache round trips; it expires on its own
# if its holder dies in between.
_LOCK_TTL_SECONDS = 5
_LOCK_POLL_SECONDS = 0.002
_SLOT_POLL_SECONDS = 0.01
# A paced caller never sleeps less than this between two tries.
_PACE_POLL_SECONDS = 0.001


def run_script(lua: str, keys: list[str], args: list[Any]) -> Any:
    """Run ``lua`` on the cache's Redis; ``keys`` are cache keys (prefixed
    here). For scripts off the per-call path; raises without Redis."""
    handle = redis_handle()
    if handle is None:
        raise RuntimeError("run_script needs the Redis cache backend")
    return handle.run(lua, [raw_key(k) for k in keys], args)


@contextmanager
def cache_lock(
    key: str,
    *,
    wait: float,
    sleep: Sleep = time.sleep,
    ttl: float = _LOCK_TTL_SECONDS,
    poll: float = _LOCK_POLL_SECONDS,
) -> Iterator[bool]:
    """A short mutual-exclusion lock for caches without scripting. Yields
    whether the lock was obtained within ``wait`` seconds; the lock expires
    after ``ttl`` seconds if its holder dies (by the database's clock on the
    database cache: each reader's own would let one ahead take a held lock)."""
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    on_database = cache_clock.on_database_cache()
    take = cache_clock.add if on_database else _add_for_whole_seconds
    acquired = take(key, token, ttl)
    while not acquired and time.monotonic() < deadline:
        sleep(poll)
        acquired = take(key, token, ttl)
    try:
        yield acquired
    finally:
        # Only delete our own lock: it may have expired and been retaken.
        if acquired and on_database:
            cache_clock.remove(key, token)
        elif acquired and cache.get(key) == token:
            cache.delete(key)


def _add_for_whole_seconds(key: str, token: str, ttl: float) -> bool:
    return cache.add(key, token, max(1, math.ceil(ttl)))


# --- Token bucket -----------------------------------------------------------

# The shared clock of every script here: Redis's, not the caller's. A worker
# whose clock runs ahead would otherwise refill a bucket early (up to a whole
# burst) or expire other workers' leases; one behind would starve. Redis 7
# replicates a script's effects, so it may write after reading TIME.
SERVER_NOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# Mirrors reserve_token() below; ARGV: rate, burst, max_wait, ttl_ms, weight.
# Numbers cross the Lua boundary as strings: Redis truncates Lua floats to
# integers.
BUCKET_LUA = (
    SERVER_NOW_LUA
    + """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local weight = tonumber(ARGV[5]) or 1
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1]) or burst
local ts = tonumber(s[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
tokens = tokens - weight
local wait = 0
if tokens < 0 then wait = -tokens / rate end
if wait > max_wait then return {0, string.format('%.17g', wait)} end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, string.format('%.17g', wait)}
"""
)


@dataclass(frozen=True)
class Reservation:
    granted: bool
    # Granted: sleep this long, then go. Refused: time until the tokens are free.
    wait: float


def reserve_token(
    state: dict[str, float] | None,
    *,
    now: float,
    rate: float,
    burst: float,
    max_wait: float,
    weight: float = 1.0,
) -> tuple[Reservation, dict[str, float] | None]:
    """Take ``weight`` tokens, going into debt by at most ``max_wait``
    seconds' worth. Reserving (rather than polling until tokens appear)
    serves waiters in arrival order and keeps the combined rate exact across
    processes. Returns the reservation and the new state (None: unchanged).
    """
    tokens = state["tokens"] if state else burst
    ts = state["ts"] if state else now
    if now > ts:  # a shared clock stepped back must not take tokens away
        tokens = min(burst, tokens + (now - ts) * rate)
        ts = now
    tokens -= weight
    wait = -tokens / rate if tokens < 0 else 0.0
    if wait > max_wait:
        return Reservation(False, wait), None
    return Reservation(True, wait), {"tokens": tokens, "ts": ts}


# --- Concurrency leases -----------------------------------------------------

# A slot is a lease that expires: a worker killed mid-call frees its slot
# after the TTL instead of shrinking the account's capacity for good. Leases
# are stamped and expired by Redis's clock (``SERVER_NOW_LUA``). ARGV: cap,
# ttl seconds, token, ttl_ms.
_SLOT_TAKE_LUA = (
    SERVER_NOW_LUA
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local expiry = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], string.format('%.17g', expiry), ARGV[3])
-- Never shorter: leases taken under a longer TTL (since lowered) stay held.
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
"""
)

_SLOT_COUNT_LUA = (
    SERVER_NOW_LUA
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.17g', now), '+inf')
"""
)

_LIMIT_KEYS = (
    "rate_limit_per_second",
    "rate_limit_burst",
    "rate_limit_max_wait_seconds",
    "max_concurrency",
    "concurrency_max_wait_seconds",
    "concurrency_slot_ttl_seconds",
)


@dataclass(frozen=True)
class LimitConfig:
    rate: float | None
    burst: float
    max_wait: float
    max_concurrency: int | None
    concurrency_max_wait: float
    slot_ttl: float

    @classmethod
    def for_account(cls, account: "ProviderAccount") -> "LimitConfig":
        values = limit_values(account, _LIMIT_KEYS)
        rate = values["rate_limit_per_second"]
        return cls(
            rate=rate,
            burst=values["rate_limit_burst"] or max(1.0, rate or 1.0),
            max_wait=values["rate_limit_max_wait_seconds"],
            max_concurrency=values["max_concurrency"],
            concurrency_max_wait=values["concurrency_max_wait_seconds"],
            slot_ttl=values["concurrency_slot_ttl_seconds"],
        )

    def bound(self, weight: float) -> float:
        """How far into debt a reservation of ``weight`` may go: the wait
        bound, or the deficit a full bucket leaves when ``weight`` exceeds
        the burst (so any weight is servable by waiting that deficit)."""
        return max(self.max_wait, (weight - self.burst) / self.rate)


class RateLimiter:
    """Token bucket plus concurrency cap for one account. Cheap to build;
    holds no state of its own (everything lives in the cache). ``clock``
    only times this worker's own waits: the bucket and the leases run on the
    shared store's clock."""

    def __init__(
        self,
        account: "ProviderAccount",
        *,
        config: LimitConfig | None = None,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.account = account
        self.config = config or LimitConfig.for_account(account)
        self.clock = clock
        self.sleep = sleep
        tag = f"{{acct:{account.pk}}}"  # hash tag: one Redis Cluster slot
        self.bucket_key = f"rl:{tag}:bucket"
        self.slots_key = f"rl:{tag}:slots"

    # -- token bucket --

    def acquire(self, weight: float = 1) -> float:
        """Take ``weight`` tokens, waiting at most the configured bound, and
        return the time waited; raise NotProcessed(rate_limited) rather than
        wait longer (transactional: fail over)."""
        if self.config.rate is None:
            return 0.0
        reservation = self._reserve_guarded(weight, paced=False)
        if reservation is None:
            return 0.0  # Redis unreachable: not paced (store_guard)
        return self.honour(reservation)

    def pace(
        self,
        weight: float = 1,
        *,
        budget: float,
        first: Reservation | None = None,
    ) -> float:
        """Take ``weight`` tokens, waiting as long as ``budget`` seconds
        allows (bulk work), and return the time waited; raise Paced (with
        ``retry_after``) when the tokens cannot be had within it.

        Reservations still go into debt by the transactional bound only, so
        calls queued behind a bulk job wait no longer than they would anyway;
        the rest of the wait is spent asleep, before reserving. ``first``: a
        reservation made with that bound a moment ago (the client's gate),
        used instead of reserving again.
        """
        if self.config.rate is None:
            return 0.0
        start = self.clock()
        deadline = start + budget
        bound = self.config.bound(weight)
        while True:
            left = deadline - self.clock()
            reservation, first = first, None
            if reservation is None:
                # Redis unreachable: refused as not sent (RedisUnreachable).
                reservation = self._reserve_guarded(
                    weight, paced=True, max_wait=min(bound, max(left, 0.0))
                )
            if reservation is None:  # a check, not an assert: python -O keeps it
                raise RedisUnreachable("rate limit unreadable: Redis unreachable")
            if reservation.granted:
                if reservation.wait > 0:
                    self.sleep(reservation.wait)
                return self.clock() - start
            if reservation.wait > left:
                raise self._paced(reservation.wait, weight)
            # Asleep until a reservation of this weight would be granted.
            self.sleep(max(reservation.wait - bound, _PACE_POLL_SECONDS))

    def honour(self, reservation: Reservation) -> float:
        """Wait out a granted reservation, or refuse: shared by ``acquire``
        and the client, which reserves together with the breaker check."""
        if not reservation.granted:
            logger.info(
                "rate limit reached",
                extra={"account": self.account.slug, "wait": reservation.wait},
            )
            raise NotProcessed(
                "rate limit reached for this account",
                code="rate_limited",
                retry_after=reservation.wait,
            )
        if reservation.wait > 0:
            self.sleep(reservation.wait)
        return reservation.wait

    def bucket_args(self, weight: float = 1, max_wait: float | None = None) -> list:
        """``BUCKET_LUA``'s ARGV for a reservation of ``weight`` now."""
        cfg = self.config
        bound = cfg.bound(weight) if max_wait is None else max_wait
        # Idle buckets vanish once they would be full again anyway.
        ttl_ms = math.ceil((cfg.burst / cfg.rate + bound + 1) * 1000)
        return [repr(cfg.rate), repr(cfg.burst), repr(bound), ttl_ms, weight]

    def reserve(
        self, weight: float = 1, *, max_wait: float | None = None
    ) -> Reservation:
        """Reserve ``weight`` tokens if the wait is at most ``max_wait``
        (default: the transactional bound); returns a Reservation."""
        if weight <= 0:
            raise ValueError("a reservation takes a positive weight")
        handle = redis_handle()
        if handle is not None:
            granted, wait = handle.run(
                BUCKET_LUA,
                [raw_key(self.bucket_key)],
                self.bucket_args(weight, max_wait),
            )
            return Reservation(bool(int(granted)), float(wait))
        cfg = self.config
        return self._reserve_locked(
            weight, cfg.bound(weight) if max_wait is None else max_wait
        )

    def _reserve_guarded(
        self, weight: float, *, paced: bool, max_wait: float | None = None
    ) -> Reservation | None:
        """``reserve``, or while Redis is unreachable (``redis_line.outage``)
        None for an interactive call; a paced one is refused (store_guard)."""
        try:
            outage.check()
            return self.reserve(weight, max_wait=max_wait)
        except RedisError as exc:
            store_failed(exc, paced=paced)
            return None

    def _reserve_locked(self, weight: float, max_wait: float) -> Reservation:
        cfg = self.config
        with cache_lock(self.bucket_key + ":lock", wait=cfg.max_wait) as locked:
            if not locked:
                return Reservation(False, cfg.max_wait)
            reservation, state = reserve_token(
                cache.get(self.bucket_key),
                now=cache_clock.shared_now(),
                rate=cfg.rate,
                burst=cfg.burst,
                max_wait=max_wait,
                weight=weight,
            )
            if state is not None:
                # No expiry, as for the leases: the database cache would
                # expire it by each reader's clock (one ahead: a full bucket).
                cache.set(self.bucket_key, state, None)
            return reservation

    def _paced(self, retry_after: float, weight: float) -> Paced:
        logger.info(
            "rate limit outlasts the pacing budget",
            extra={
                "account": self.account.slug,
                "weight": weight,
                "retry_after": retry_after,
            },
        )
        return Paced(
            "rate limit outlasts the pacing budget for this account",
            retry_after=retry_after,
        )

    # -- concurrency cap --

    @contextmanager
    def concurrency_slot(
        self, *, max_wait: float | None = None, paced: bool = False
    ) -> Iterator[None]:
        """Hold one of the account's ``max_concurrency`` slots for the block,
        waiting at most ``max_wait`` (default: the configured wait) for one;
        raise NotProcessed(concurrency_limited), or Paced when ``paced``."""
        if self.config.max_concurrency is None:
            yield
            return
        if max_wait is None:
            max_wait = self.config.concurrency_max_wait
        try:
            outage.check()
            token = self._take_slot(max_wait, paced)
        except RedisError as exc:
            store_failed(exc, paced=paced)  # Redis unreachable: no cap
            yield
            return
        try:
            yield
        finally:
            self._release_slot(token)

    def in_flight(self) -> int:
        """Slots currently held (expired leases not counted)."""
        handle = redis_handle()
        if handle is not None:
            return int(handle.run(_SLOT_COUNT_LUA, [raw_key(self.slots_key)], []))
        now = cache_clock.shared_now()
        leases = cache.get(self.slots_key) or {}
        return sum(1 for expiry in leases.values() if expiry > now)

    def _take_slot(self, max_wait: float, paced: bool) -> str:
        token = secrets.token_hex(8)
        deadline = self.clock() + max_wait
        while not self._try_slot(token):
            left = deadline - self.clock()
            if left <= 0:
                raise self._no_slot(paced)
            self.sleep(min(_SLOT_POLL_SECONDS, left))
        return token

    def _no_slot(self, paced: bool) -> NotProcessed:
        logger.info(
            "concurrency limit reached",
            extra={
                "account": self.account.slug,
                "max_concurrency": self.config.max_concurrency,
            },
        )
        if paced:
            return Paced(
                "no concurrency slot within the pacing budget",
                retry_after=_SLOT_POLL_SECONDS,
            )
        return NotProcessed(
            "too many requests in flight for this account",
            code="concurrency_limited",
            retry_after=_SLOT_POLL_SECONDS,
        )

    def _try_slot(self, token: str) -> bool:
        cfg = self.config
        handle = redis_handle()
        if handle is not None:
            taken = handle.run(
                _SLOT_TAKE_LUA,
                [raw_key(self.slots_key)],
                [
                    cfg.max_concurrency,
                    repr(cfg.slot_ttl),
                    token,
                    math.ceil(cfg.slot_ttl * 1000),
                ],
            )
            return bool(int(taken))
        with cache_lock(self.slots_key + ":lock", wait=1.0) as locked:
            if not locked:
                return False
            now = cache_clock.shared_now()
            leases = {
                t: exp
                for t, exp in (cache.get(self.slots_key) or {}).items()
                if exp > now
            }
            if len(leases) >= cfg.max_concurrency:
                return False
            leases[token] = now + cfg.slot_ttl
            # No expiry on the entry: the database cache would expire it by
            # each reader's own clock. Its leases expire by the shared one.
            cache.set(self.slots_key, leases, None)
            return True

    def _release_slot(self, token: str) -> None:
        handle = redis_handle()
        if handle is not None:
            try:
                outage.check()
                handle.line.command("ZREM", raw_key(self.slots_key), token)
            except RedisError as exc:
                # After the call: its outcome stands; the lease expires.
                outage.failed(exc)
            return
        with cache_lock(self.slots_key + ":lock", wait=1.0) as locked:
            if not locked:
                # The lease expires on its own; log so a stuck lock is visible.
                logger.warning(
                    "concurrency slot not released",
                    extra={"account": self.account.slug},
                )
                return
            leases = cache.get(self.slots_key) or {}
            if leases.pop(token, None) is not None:
                cache.set(self.slots_key, leases, None)


def limiter_for(
    account: "ProviderAccount",
    *,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> RateLimiter:
    return RateLimiter(account, clock=clock, sleep=sleep)
