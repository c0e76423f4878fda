"""Per-account rate limit (token bucket) and concurrency cap, shared by every
process and machine through Django's cache.

Per-account settings (``ProviderAccount.settings``), none set = no limit:

=============================  ================================================
``rate_limit_per_second``      tokens added per second (float)
``rate_limit_burst``           bucket size; defaults to max(1, rate)
``rate_limit_max_wait_seconds``  how long ``acquire`` may wait for a token;
                               default ``settings.RATE_LIMIT_MAX_WAIT_SECONDS``
``max_concurrency``            requests in flight at once across all processes
``concurrency_max_wait_seconds``  wait for a free slot; default
                               ``settings.CONCURRENCY_MAX_WAIT_SECONDS``
``concurrency_slot_ttl_seconds``  a slot held longer is reclaimed (a crashed
                               worker cannot leak it forever); default
                               ``settings.CONCURRENCY_SLOT_TTL_SECONDS``
=============================  ================================================

On Redis every decision is one Lua script, atomic across processes. Other
caches (the embedded database cache) get the same arithmetic under a short
lock taken with ``cache.add``: slower, still correct.
"""

import logging
import math
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from integrations.errors import NotProcessed

if TYPE_CHECKING:
    from redis import Redis

    from integrations.models import ProviderAccount

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# A fallback lock is held for a few cache round trips; it expires on its own
# if its holder dies in between.
_LOCK_TTL_SECONDS = 5
_LOCK_POLL_SECONDS = 0.002
_SLOT_POLL_SECONDS = 0.01


# --- Raw Redis access, shared with integrations.breaker -----------------------


def redis_client(key: str) -> "Redis | None":
    """The Redis client behind the default cache for ``key``, or None when the
    cache is not Redis. Keys passed to scripts must go through ``raw_key``."""
    # ``cache`` is a proxy; the backend object itself is per thread.
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(key, write=True)


def raw_key(key: str) -> str:
    """The key as Redis stores it (prefix and version applied), so values
    written by a script and by ``cache.get`` are the same entry."""
    return cache.make_and_validate_key(key)


_scripts: dict[str, Any] = {}


def run_script(lua: str, keys: list[str], args: list[Any]) -> Any:
    """Run ``lua`` by its SHA (loaded on first use per server) on the cache's
    Redis. ``keys`` are cache keys; they are prefixed here."""
    from redis.commands.core import Script

    client = redis_client(keys[0])
    if client is None:
        raise RuntimeError("run_script needs the Redis cache backend")
    script = _scripts.get(lua)
    if script is None:
        script = _scripts[lua] = Script(client, lua)
    return script(keys=[raw_key(k) for k in keys], args=args, client=client)


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
    after ``ttl`` seconds if its holder dies."""
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    timeout = max(1, math.ceil(ttl))
    acquired = cache.add(key, token, timeout)
    while not acquired and time.monotonic() < deadline:
        sleep(poll)
        acquired = cache.add(key, token, timeout)
    try:
        yield acquired
    finally:
        # Only delete our own lock: it may have expired and been retaken.
        if acquired and cache.get(key) == token:
            cache.delete(key)


# --- Token bucket -----------------------------------------------------------

# Mirrors reserve_token() below. Numbers cross the Lua boundary as strings:
# Redis truncates Lua floats to integers.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1]) or burst
local ts = tonumber(s[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
tokens = tokens - 1
local wait = 0
if tokens < 0 then wait = -tokens / rate end
if wait > max_wait then return {0, string.format('%.17g', wait)} end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, string.format('%.17g', wait)}
"""


@dataclass(frozen=True)
class Reservation:
    granted: bool
    # Granted: sleep this long, then go. Refused: time until a token is free.
    wait: float


def reserve_token(
    state: dict[str, float] | None,
    *,
    now: float,
    rate: float,
    burst: float,
    max_wait: float,
) -> tuple[Reservation, dict[str, float] | None]:
    """Take one token, going into debt by at most ``max_wait`` seconds' worth.

    Reserving (rather than polling until a token appears) serves waiters in
    arrival order and keeps the combined rate exact across processes.
    Returns the reservation and the new state (None: unchanged).
    """
    tokens = state["tokens"] if state else burst
    ts = state["ts"] if state else now
    if now > ts:  # another machine's clock may be slightly ahead: never go back
        tokens = min(burst, tokens + (now - ts) * rate)
        ts = now
    tokens -= 1
    wait = -tokens / rate if tokens < 0 else 0.0
    if wait > max_wait:
        return Reservation(False, wait), None
    return Reservation(True, wait), {"tokens": tokens, "ts": ts}


# --- Concurrency leases -----------------------------------------------------

# A slot is a lease that expires: a worker killed mid-call frees its slot
# after the TTL instead of shrinking the account's capacity for good.
_SLOT_TAKE_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


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
        values = account.settings or {}
        rate = _positive(values.get("rate_limit_per_second"), float, account)
        burst = _positive(values.get("rate_limit_burst"), float, account)
        return cls(
            rate=rate,
            burst=burst or max(1.0, rate or 1.0),
            max_wait=_setting(values, "rate_limit_max_wait_seconds", account),
            max_concurrency=_positive(values.get("max_concurrency"), int, account),
            concurrency_max_wait=_setting(
                values, "concurrency_max_wait_seconds", account
            ),
            slot_ttl=_setting(values, "concurrency_slot_ttl_seconds", account),
        )


def _positive(
    raw: Any, kind: type, account: "ProviderAccount", *, allow_zero: bool = False
) -> Any:
    if raw in (None, ""):
        return None
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        value = None
    too_small = value is not None and (value < 0 or (value == 0 and not allow_zero))
    if value is None or too_small or not math.isfinite(value):
        logger.warning(
            "ignoring invalid rate limit setting",
            extra={"account": account.slug, "value": str(raw)},
        )
        return None
    return value


def _setting(values: dict[str, Any], name: str, account: "ProviderAccount") -> float:
    # Zero is meaningful here: fail fast instead of waiting.
    value = _positive(values.get(name), float, account, allow_zero=True)
    return float(getattr(settings, name.upper())) if value is None else value


class RateLimiter:
    """Token bucket plus concurrency cap for one account. Cheap to build; holds
    no state of its own (everything lives in the cache)."""

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
        self._bucket_key = f"rl:{tag}:bucket"
        self._slots_key = f"rl:{tag}:slots"

    # -- token bucket --

    def acquire(self) -> float:
        """Wait for a token (at most the configured bound) and return the time
        waited; raise NotProcessed(rate_limited) rather than wait longer."""
        if self.config.rate is None:
            return 0.0
        return self.honour(self._reserve())

    def honour(self, reservation: "Reservation") -> float:
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

    def _reserve(self) -> Reservation:
        cfg = self.config
        now = self.clock()
        if redis_client(self._bucket_key) is not None:
            # Idle buckets vanish once they would be full again anyway.
            ttl_ms = math.ceil((cfg.burst / cfg.rate + cfg.max_wait + 1) * 1000)
            granted, wait = run_script(
                _BUCKET_LUA,
                [self._bucket_key],
                [
                    repr(cfg.rate),
                    repr(cfg.burst),
                    repr(now),
                    repr(cfg.max_wait),
                    ttl_ms,
                ],
            )
            return Reservation(bool(int(granted)), float(wait))
        return self._reserve_locked(now)

    def _reserve_locked(self, now: float) -> Reservation:
        cfg = self.config
        with cache_lock(self._bucket_key + ":lock", wait=cfg.max_wait) as locked:
            if not locked:
                return Reservation(False, cfg.max_wait)
            reservation, state = reserve_token(
                cache.get(self._bucket_key),
                now=now,
                rate=cfg.rate,
                burst=cfg.burst,
                max_wait=cfg.max_wait,
            )
            if state is not None:
                ttl = cfg.burst / cfg.rate + cfg.max_wait + 1
                cache.set(self._bucket_key, state, math.ceil(ttl))
            return reservation

    # -- concurrency cap --

    @contextmanager
    def concurrency_slot(self) -> Iterator[None]:
        """Hold one of the account's ``max_concurrency`` slots for the block;
        raise NotProcessed(concurrency_limited) if none frees up in time."""
        if self.config.max_concurrency is None:
            yield
            return
        token = self._take_slot()
        try:
            yield
        finally:
            self._release_slot(token)

    def in_flight(self) -> int:
        """Slots currently held (expired leases not counted)."""
        now = self.clock()
        client = redis_client(self._slots_key)
        if client is not None:
            return int(client.zcount(raw_key(self._slots_key), f"({now!r}", "+inf"))
        leases = cache.get(self._slots_key) or {}
        return sum(1 for expiry in leases.values() if expiry > now)

    def _take_slot(self) -> str:
        token = secrets.token_hex(8)
        deadline = self.clock() + self.config.concurrency_max_wait
        while not self._try_slot(token):
            left = deadline - self.clock()
            if left <= 0:
                logger.info(
                    "concurrency limit reached",
                    extra={
                        "account": self.account.slug,
                        "max_concurrency": self.config.max_concurrency,
                    },
                )
                raise NotProcessed(
                    "too many requests in flight for this account",
                    code="concurrency_limited",
                    retry_after=_SLOT_POLL_SECONDS,
                )
            self.sleep(min(_SLOT_POLL_SECONDS, left))
        return token

    def _try_slot(self, token: str) -> bool:
        cfg = self.config
        now = self.clock()
        if redis_client(self._slots_key) is not None:
            taken = run_script(
                _SLOT_TAKE_LUA,
                [self._slots_key],
                [
                    repr(now),
                    repr(now + cfg.slot_ttl),
                    cfg.max_concurrency,
                    token,
                    math.ceil(cfg.slot_ttl * 1000),
                ],
            )
            return bool(int(taken))
        with cache_lock(self._slots_key + ":lock", wait=1.0) as locked:
            if not locked:
                return False
            leases = {
                t: exp
                for t, exp in (cache.get(self._slots_key) or {}).items()
                if exp > now
            }
            if len(leases) >= cfg.max_concurrency:
                return False
            leases[token] = now + cfg.slot_ttl
            cache.set(self._slots_key, leases, math.ceil(cfg.slot_ttl))
            return True

    def _release_slot(self, token: str) -> None:
        client = redis_client(self._slots_key)
        if client is not None:
            client.zrem(raw_key(self._slots_key), token)
            return
        with cache_lock(self._slots_key + ":lock", wait=1.0) as locked:
            if not locked:
                # The lease expires on its own; log so a stuck lock is visible.
                logger.warning(
                    "concurrency slot not released",
                    extra={"account": self.account.slug},
                )
                return
            leases = cache.get(self._slots_key) or {}
            if leases.pop(token, None) is not None:
                cache.set(self._slots_key, leases, math.ceil(self.config.slot_ttl))


def limiter_for(
    account: "ProviderAccount",
    *,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> RateLimiter:
    return RateLimiter(account, clock=clock, sleep=sleep)
