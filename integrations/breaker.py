"""Circuit breaker per provider account, shared by every process and machine
through Django's cache (Redis in production).

closed     calls go through; outcomes are counted in time buckets.
open       calls fail fast with NotProcessed(code="breaker_open"). Entered when
           ``min_calls`` calls in the window failed at ``failure_rate`` or
           more, or after ``consecutive_failures`` failures in a row. Lasts
           ``open_seconds``, or until a 429/503's Retry-After if that is later.
half_open  the open time is over: exactly one probe goes through, across all
           processes (claimed with ``cache.add``). Success closes the breaker,
           failure reopens it. A probe that never reports back (crashed
           worker) frees the claim after ``probe_timeout_seconds``.

Only ``not_processed`` and ``unknown`` failures and 5xx responses count;
``rejected`` means the provider answered, so it counts as a healthy call. Our
own refusals (breaker open, rate or concurrency limited, missing
configuration) never reached the provider and are not counted at all.

Tuning, from settings (``BREAKER_*``), overridable per account through these
``ProviderAccount.settings`` keys: ``breaker_failure_rate`` (0-1),
``breaker_min_calls``, ``breaker_window_seconds``,
``breaker_consecutive_failures``, ``breaker_open_seconds``,
``breaker_probe_timeout_seconds``.

Staff override per account with ``ProviderAccount.breaker_mode`` (automatic,
forced open, forced closed). The mode is mirrored into the cache by
``breaker_mode_publish`` (the admin calls it) so that long-lived clients in
other processes obey it at their next call.
"""

import logging
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import DatabaseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from integrations import metrics
from integrations.errors import ConfigurationError, NotProcessed, Outcome
from integrations.events import event_emit
from integrations.models.accounts import BreakerMode
from integrations.ratelimit import _BUCKET_LUA, Clock, Reservation

if TYPE_CHECKING:
    from redis import Redis
    from redis.commands.core import Script

    from integrations.errors import ProviderError
    from integrations.models import ProviderAccount
    from integrations.ratelimit import RateLimiter

logger = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Refusals of our own: nothing reached the provider, so they say nothing about
# its health.
_LOCAL_CODES = frozenset({"breaker_open", "rate_limited", "concurrency_limited"})
# Without an error object these statuses mean "not processed" or "unknown".
_FAILING_STATUSES = frozenset({401, 403, 408, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
# Only guards against two processes announcing the same transition at once.
_TRANSITION_LOCK_SECONDS = 10

# KEYS[1] consecutive failures, KEYS[2..n+1] call buckets (current first),
# KEYS[n+2..2n+1] failure buckets. One round trip per recorded call.
_COUNT_LUA = """
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


@dataclass(frozen=True)
class BreakerConfig:
    failure_rate: float
    min_calls: int
    window_seconds: float
    buckets: int
    consecutive_failures: int
    open_seconds: float
    probe_timeout_seconds: float
    max_retry_after_seconds: float

    @classmethod
    def for_account(cls, account: "ProviderAccount") -> "BreakerConfig":
        def pick(name: str, kind: type, upper: float | None = None) -> Any:
            default = kind(getattr(settings, name.upper()))
            raw = (account.settings or {}).get(name)
            if raw in (None, ""):
                return default
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                value = None
            if value is None or value <= 0 or (upper is not None and value > upper):
                logger.warning(
                    "ignoring invalid breaker setting",
                    extra={"account": account.slug, "setting": name},
                )
                return default
            return value

        return cls(
            failure_rate=pick("breaker_failure_rate", float, upper=1.0),
            min_calls=pick("breaker_min_calls", int),
            window_seconds=pick("breaker_window_seconds", float),
            buckets=max(1, int(settings.BREAKER_WINDOW_BUCKETS)),
            consecutive_failures=pick("breaker_consecutive_failures", int),
            open_seconds=pick("breaker_open_seconds", float),
            probe_timeout_seconds=pick("breaker_probe_timeout_seconds", float),
            max_retry_after_seconds=float(settings.BREAKER_MAX_RETRY_AFTER_SECONDS),
        )


@dataclass(frozen=True)
class BreakerSnapshot:
    """What callers experience now (``state``, forced modes applied) and the
    last transition, for the admin, health command and dashboard."""

    state: BreakerState
    mode: str
    opened_until: datetime | None
    last_transition_at: datetime | None
    last_reason: str
    last_state: str = ""


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


# The probe a thread holds, per account pk: {pk: generation}. Kept per thread,
# not per breaker object, so it survives callers building a new breaker for
# before_call and record_*.
_probes = threading.local()


def _held_probes() -> dict[int, int]:
    held = getattr(_probes, "held", None)
    if held is None:
        held = _probes.held = {}
    return held


class CircuitBreaker:
    """Breaker for one account. Holds configuration only; the state lives in
    the cache, so any number of instances in any process agree."""

    def __init__(
        self,
        account: "ProviderAccount",
        *,
        config: BreakerConfig | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.account = account
        self.config = config or BreakerConfig.for_account(account)
        self.clock = clock
        self._prefix = f"brk:{{acct:{account.pk}}}"  # one Redis Cluster slot
        self._state_key = f"{self._prefix}:state"
        self._mode_key = f"{self._prefix}:mode"
        self._consec_key = f"{self._prefix}:consec"
        self._raw_mode_key = _raw_key(self._mode_key)
        self._raw_state_key = _raw_key(self._state_key)
        # Raw keys are built once per bucket (or limiter), not on every call.
        self._count_keys_memo: tuple[str, list[str]] | None = None
        self._bucket_key_memo: tuple[str, str] | None = None

    # -- the calls ProviderClient makes around every attempt --

    def before_call(self) -> None:
        """Return if a call may go out now; raise NotProcessed(breaker_open)
        otherwise. In half-open, lets exactly one caller through."""
        self._drop_probe()
        mode, rec = self._read()
        self._admit(mode, rec)

    def before_call_reserving(self, limiter: "RateLimiter") -> "Reservation | None":
        """``before_call`` and the reservation of one of ``limiter``'s tokens
        in a single Redis round trip (the client's hot path).

        Returns the reservation for the caller to honour (wait, or refuse as
        rate limited) once the breaker let the call through; None when the
        caller must still call ``limiter.acquire()`` (no rate limit, no Redis,
        or a breaker that is not plainly closed: its token is given back and
        the call takes the ordinary path, probe and all).
        """
        cfg = limiter.config
        handle = _redis() if cfg.rate is not None else None
        if handle is None:
            self.before_call()
            return None
        self._drop_probe()
        now = limiter.clock()
        ttl_ms = math.ceil((cfg.burst / cfg.rate + cfg.max_wait + 1) * 1000)
        granted, wait, mode_raw, state_raw = handle.line.run(
            handle.gate_script,
            [self._raw_bucket_key(limiter), self._raw_mode_key, self._raw_state_key],
            [repr(cfg.rate), repr(cfg.burst), repr(now), repr(cfg.max_wait), ttl_ms],
        )
        mode = (None if mode_raw is None else handle.loads(mode_raw)) or (
            self.account.breaker_mode or BreakerMode.AUTO
        )
        rec = None if state_raw is None else handle.loads(state_raw)
        reservation = Reservation(bool(int(granted)), float(wait))
        closed = rec is None or rec["state"] != BreakerState.OPEN
        if mode == BreakerMode.FORCED_CLOSED or (mode == BreakerMode.AUTO and closed):
            return reservation
        if reservation.granted:
            # The breaker decides first: no call goes out, so no token is used.
            handle.line.run(
                handle.refund_script,
                [self._raw_bucket_key(limiter)],
                [repr(cfg.burst)],
            )
        self._admit(mode, rec)
        return None

    def _admit(self, mode: str, rec: dict[str, Any] | None) -> None:
        if mode == BreakerMode.FORCED_CLOSED:
            return
        if mode == BreakerMode.FORCED_OPEN:
            raise NotProcessed(
                "circuit breaker forced open by staff", code="breaker_open"
            )
        if rec is None or rec["state"] != BreakerState.OPEN:
            return
        now = self.clock()
        if now < rec["opened_until"]:
            raise self._open_error(rec["opened_until"] - now)
        if not self._claim_probe(rec, now):
            raise self._open_error(self._probe_slot_left(rec, now))

    def record_success(self) -> None:
        gen = self._take_probe()
        if gen is not None:
            self._close_after_probe(gen)
            return
        self._count(failed=False)

    def record_failure(
        self,
        error: "ProviderError | None",
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        status = http_status if http_status is not None else _status_of(error)
        verdict = _classify(error, status)
        if verdict is None:
            self._release_probe()
            return
        if not verdict:
            self.record_success()
            return
        ra = self._retry_after(error, status, retry_after)
        code = error.code if error is not None else f"http_{status}"
        gen = self._take_probe()
        if gen is not None:
            self._open(reason=f"probe failed ({code})", retry_after=ra, gen=gen)
            return
        consec, calls, fails = self._count(failed=True)
        reason = self._trip_reason(consec, calls, fails, code)
        if reason is not None:
            self._open(reason=reason, retry_after=ra, gen=None)
        elif ra:
            self._extend_open(ra)

    # -- reads --

    def snapshot(self) -> BreakerSnapshot:
        mode, rec = self._read()
        rec = rec or {}
        state = self._effective_state(mode, rec, self.clock())
        opened_until = None
        if state != BreakerState.CLOSED and mode == BreakerMode.AUTO:
            opened_until = _dt(rec.get("opened_until"))
        return BreakerSnapshot(
            state=state,
            mode=mode,
            opened_until=opened_until,
            last_transition_at=_dt(rec.get("at")),
            last_reason=rec.get("reason", ""),
            last_state=rec.get("last_state", ""),
        )

    def is_open(self) -> bool:
        """True while calls are refused outright (no probe chance)."""
        mode, rec = self._read()
        return self._effective_state(mode, rec or {}, self.clock()) == "open"

    # -- staff override --

    def publish_mode(self, *, previous: str | None = None, actor: str = "") -> None:
        """Mirror the account's ``breaker_mode`` into the cache for every
        process, and record the change as the last transition."""
        mode = self.account.breaker_mode
        cache.set(self._mode_key, mode, None)
        if previous == mode:
            return
        now = self.clock()
        reason = f"mode set to {mode} by {actor or 'system'}"
        rec = self._record() or _closed_record(gen=0, at=now, reason="")
        rec.update(last_state=mode, at=now, reason=reason)
        cache.set(self._state_key, rec, None)
        state = self._effective_state(mode, rec, now)
        self._announce("mode_changed", state, reason, rec)

    # -- internals: state record --

    def _read(self) -> tuple[str, dict[str, Any] | None]:
        handle = _redis()
        if handle is not None:
            # One MGET on this thread's line (see _Line), read
            # exactly as ``cache.get_many`` would.
            raw = handle.line.command("MGET", self._raw_mode_key, self._raw_state_key)
            mode_value, state_value = (
                None if value is None else handle.loads(value) for value in raw
            )
        else:
            values = cache.get_many([self._mode_key, self._state_key])
            mode_value = values.get(self._mode_key)
            state_value = values.get(self._state_key)
        mode = mode_value or self.account.breaker_mode
        return mode or BreakerMode.AUTO, state_value

    def _record(self) -> dict[str, Any] | None:
        return cache.get(self._state_key)

    def _effective_state(
        self, mode: str, rec: dict[str, Any], now: float
    ) -> BreakerState:
        if mode == BreakerMode.FORCED_OPEN:
            return BreakerState.OPEN
        if mode == BreakerMode.FORCED_CLOSED or rec.get("state") != "open":
            return BreakerState.CLOSED
        if now < rec["opened_until"]:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def _open_error(self, retry_after: float) -> NotProcessed:
        return NotProcessed(
            "circuit breaker open for this account",
            code="breaker_open",
            retry_after=max(0.0, retry_after),
        )

    # -- internals: counting --

    def _bucket_keys(self, now: float) -> tuple[list[str], list[str]]:
        width = self.config.window_seconds / self.config.buckets
        current = int(now // width)
        indexes = range(current, current - self.config.buckets, -1)
        calls = [f"{self._prefix}:calls:{i}" for i in indexes]
        fails = [f"{self._prefix}:fails:{i}" for i in indexes]
        return calls, fails

    def _raw_count_keys(self, calls: list[str], fails: list[str]) -> list[str]:
        memo = self._count_keys_memo
        if memo is None or memo[0] != calls[0]:
            raw = [_raw_key(k) for k in (self._consec_key, *calls, *fails)]
            memo = self._count_keys_memo = (calls[0], raw)
        return memo[1]

    def _raw_bucket_key(self, limiter: "RateLimiter") -> str:
        memo = self._bucket_key_memo
        if memo is None or memo[0] != limiter._bucket_key:
            memo = (limiter._bucket_key, _raw_key(limiter._bucket_key))
            self._bucket_key_memo = memo
        return memo[1]

    def _count(self, *, failed: bool) -> tuple[int, int, int]:
        """Count one call; for a failure return (consecutive, calls, failures)
        over the window, else zeros."""
        calls, fails = self._bucket_keys(self.clock())
        ttl = self.config.window_seconds * (1 + 1 / self.config.buckets)
        handle = _redis()
        if handle is not None:
            keys = self._raw_count_keys(calls, fails)
            args = ["1" if failed else "0", self.config.buckets, math.ceil(ttl * 1000)]
            if not failed:
                # Nothing to decide on a success: sent now, in order with this
                # thread's other breaker commands, its reply read later.
                handle.line.run(handle.count_script, keys, args, reply=False)
                return 0, 0, 0
            result = handle.line.run(handle.count_script, keys, args)
            return int(result[0]), int(result[1]), int(result[2])
        return self._count_generic(failed, calls, fails, math.ceil(ttl))

    def _count_generic(
        self, failed: bool, calls: list[str], fails: list[str], ttl: int
    ) -> tuple[int, int, int]:
        _incr(calls[0], ttl)
        if not failed:
            cache.delete(self._consec_key)
            return 0, 0, 0
        _incr(fails[0], ttl)
        consec = _incr(self._consec_key, ttl)
        values = cache.get_many(calls + fails)
        total = sum(int(values.get(k) or 0) for k in calls)
        failures = sum(int(values.get(k) or 0) for k in fails)
        return consec, total, failures

    def _trip_reason(
        self, consec: int, calls: int, fails: int, code: str
    ) -> str | None:
        cfg = self.config
        if consec >= cfg.consecutive_failures:
            return f"{consec} consecutive failures (last: {code})"
        if calls >= cfg.min_calls and fails / calls >= cfg.failure_rate:
            return (
                f"{fails} of {calls} calls failed in {cfg.window_seconds:g}s "
                f"(last: {code})"
            )
        return None

    def _retry_after(
        self, error: "ProviderError | None", status: int | None, given: float | None
    ) -> float | None:
        value = given if given is not None else getattr(error, "retry_after", None)
        if status not in _RETRY_AFTER_STATUSES or not value or value <= 0:
            return None
        return min(float(value), self.config.max_retry_after_seconds)

    # -- internals: transitions --

    def _open(self, *, reason: str, retry_after: float | None, gen: int | None) -> None:
        """Trip (gen None: from closed) or reopen after the probe of ``gen``."""
        mode, rec = self._read()
        if gen is None and mode != BreakerMode.AUTO:
            return  # forced: staff decide, the counters do not
        current = rec["gen"] if rec else 0
        if gen is None and rec and rec["state"] == BreakerState.OPEN:
            if retry_after:
                self._extend_open(retry_after)
            return
        if (gen is not None and gen != current) or not self._lock_transition(current):
            return
        now = self.clock()
        hold = max(self.config.open_seconds, retry_after or 0.0)
        rec = {
            "state": BreakerState.OPEN.value,
            "gen": current + 1,
            "opened_until": now + hold,
            "last_state": BreakerState.OPEN.value,
            "at": now,
            "reason": reason,
        }
        cache.set(self._state_key, rec, None)
        self._announce("opened", BreakerState.OPEN, reason, rec)

    def _close_after_probe(self, gen: int) -> None:
        rec = self._record()
        if not rec or rec["gen"] != gen or rec["state"] != BreakerState.OPEN:
            return
        if not self._lock_transition(gen):
            return
        now = self.clock()
        reason = "probe succeeded"
        rec = _closed_record(gen=gen + 1, at=now, reason=reason)
        cache.set(self._state_key, rec, None)
        # Start the next closed period with a clean slate: failures from before
        # the outage must not trip the breaker again at once.
        calls, fails = self._bucket_keys(now)
        cache.delete_many([self._consec_key, *calls, *fails])
        self._announce("closed", BreakerState.CLOSED, reason, rec)

    def _extend_open(self, retry_after: float) -> None:
        rec = self._record()
        if not rec or rec["state"] != BreakerState.OPEN:
            return
        until = self.clock() + retry_after
        if until <= rec["opened_until"]:
            return
        rec["opened_until"] = until
        cache.set(self._state_key, rec, None)
        logger.info(
            "circuit breaker held open by retry-after",
            extra={"account": self.account.slug, "retry_after": retry_after},
        )

    def _lock_transition(self, gen: int) -> bool:
        # Several processes may see the same threshold crossed; one acts.
        key = f"{self._prefix}:trans:{gen}"
        return cache.add(key, 1, _TRANSITION_LOCK_SECONDS)

    # -- internals: the half-open probe --

    def _probe_key(self, rec: dict[str, Any], now: float) -> tuple[str, int]:
        # A new slot every probe_timeout: a probe that never reports back
        # frees the next slot even if the cache key outlives it.
        elapsed = now - rec["opened_until"]
        slot = int(elapsed // self.config.probe_timeout_seconds)
        return f"{self._prefix}:probe:{rec['gen']}:{slot}", slot

    def _probe_slot_left(self, rec: dict[str, Any], now: float) -> float:
        elapsed = now - rec["opened_until"]
        return self.config.probe_timeout_seconds - (
            elapsed % self.config.probe_timeout_seconds
        )

    def _claim_probe(self, rec: dict[str, Any], now: float) -> bool:
        key, slot = self._probe_key(rec, now)
        ttl = math.ceil(self.config.probe_timeout_seconds) + 1
        if not cache.add(key, 1, ttl):
            return False
        _held_probes()[self.account.pk] = rec["gen"]
        reason = "open time over; one probe sent"
        if slot:
            reason = "previous probe did not report back; one probe sent"
        rec = {**rec, "last_state": BreakerState.HALF_OPEN.value}
        rec.update(at=now, reason=reason)
        cache.set(self._state_key, rec, None)
        self._announce("half_open", BreakerState.HALF_OPEN, reason, rec)
        return True

    def _take_probe(self) -> int | None:
        """The generation of the probe this thread holds, if it still counts
        (a stale claim from an episode that has since ended does not)."""
        gen = _held_probes().pop(self.account.pk, None)
        if gen is None:
            return None
        rec = self._record()
        if not rec or rec["gen"] != gen or rec["state"] != BreakerState.OPEN:
            return None
        return gen

    def _drop_probe(self) -> None:
        _held_probes().pop(self.account.pk, None)

    def _release_probe(self) -> None:
        """The probe was refused locally before it reached the provider: let
        another caller probe instead of waiting out the probe timeout."""
        rec = self._record() if self._take_probe() is not None else None
        if rec is None:
            return
        key, _ = self._probe_key(rec, self.clock())
        cache.delete(key)

    # -- internals: telling people --

    def _announce(
        self, event: str, state: BreakerState, reason: str, rec: dict[str, Any]
    ) -> None:
        until = _dt(rec.get("opened_until")) if state == "open" else None
        extra = {
            "account": self.account.slug,
            "kind": self.account.kind,
            "breaker_state": state.value,
            "reason": reason,
            "opened_until": until.isoformat() if until else None,
        }
        level = logging.WARNING if state != BreakerState.CLOSED else logging.INFO
        logger.log(level, "circuit breaker transition", extra=extra)
        _publish(self.account, event, state, extra)


def _publish(
    account: "ProviderAccount", event: str, state: BreakerState, payload: dict
) -> None:
    """Metrics gauge and domain event for a transition."""
    metrics.set_breaker_state(account.slug, state.value)
    try:
        event_emit(
            name=f"integrations.breaker_{event}", payload=payload, subject=account.slug
        )
    except DatabaseError:
        # The transition already holds in the cache and is logged; a caller's
        # broken transaction must not turn a provider error into a crash.
        logger.exception(
            "breaker event not recorded",
            extra={"account": account.slug, "event_name": event},
        )


def _closed_record(*, gen: int, at: float, reason: str) -> dict[str, Any]:
    return {
        "state": BreakerState.CLOSED.value,
        "gen": gen,
        "opened_until": None,
        "last_state": BreakerState.CLOSED.value,
        "at": at,
        "reason": reason,
    }


# KEYS[1] the limiter's bucket, KEYS[2] the breaker's mode, KEYS[3] its state:
# the token bucket of integrations.ratelimit (unchanged, ARGV as there) plus
# the two reads of before_call, in one round trip. Lua ``false`` (a missing
# key) comes back as None.
_GATE_LUA = (
    "local mode = redis.call('GET', KEYS[2])\n"
    "local state = redis.call('GET', KEYS[3])\n"
    "local bucket = (function()\n" + _BUCKET_LUA + "\nend)()\n"
    "return {bucket[1], bucket[2], mode, state}\n"
)
# Gives back a token reserved for a call the breaker then refused.
_REFUND_LUA = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens then
  tokens = math.min(tonumber(ARGV[1]), tokens + 1)
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens))
end
return 1
"""


class _Line:
    """This thread's own Redis connection for the breaker's per-call commands.

    Every provider call makes one or two of them (the gate before, the count
    after), so they skip the pool and client layers, and a success count,
    whose reply decides nothing, is sent without waiting for it (``reply=
    False``): the reply is read before the next command on the line. The
    command reaches Redis as early as a waited-for one would, and the next
    command of this thread (a gate, read or count) goes after it on the same
    connection, so Redis applies them in order and the counts are exactly
    those of the synchronous path. At most one reply is ever outstanding.

    Scripts run by SHA (loaded on NOSCRIPT); an unanswered one by its text,
    as its NOSCRIPT would come too late. A broken connection is reopened once
    per command (as redis-py's client retries); a lost success count is
    logged, never raised into a later, unrelated call.
    """

    def __init__(self, client: "Redis") -> None:
        self._pool = client.connection_pool
        self._conn: Any = None
        self._pid = 0
        self._pending = False
        # Django keeps a cache backend per thread, so this is uncontended; it
        # only guards against a backend shared across threads.
        self._lock = threading.Lock()

    def run(
        self, script: "Script", keys: list[str], args: list[Any], *, reply: bool = True
    ) -> Any:
        if not reply:
            return self._call(("EVAL", script.script, len(keys), *keys, *args), False)
        try:
            return self.command("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return self.command("EVAL", script.script, len(keys), *keys, *args)

    def command(self, *args: Any) -> Any:
        return self._call(args, True)

    def _call(self, args: tuple[Any, ...], reply: bool) -> Any:
        with self._lock:
            conn = self._connection()
            self._settle(conn)
            try:
                return self._send(conn, args, reply)
            except RedisConnectionError:
                # A connection gone stale (server restarted): one new try.
                conn.disconnect()
                return self._send(conn, args, reply)

    def _send(self, conn: Any, args: tuple[Any, ...], reply: bool) -> Any:
        conn.send_command(*args)
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
        return self._conn

    def _settle(self, conn: Any) -> None:
        if not self._pending:
            return
        self._pending = False
        try:
            if not conn.is_connected:
                raise RedisConnectionError("connection closed before the reply")
            conn.read_response()
        except Exception:  # an earlier call's reply: never raised into this one
            conn.disconnect()
            logger.warning("breaker success count may be lost", exc_info=True)


@dataclass(frozen=True)
class _Redis:
    line: _Line
    loads: Any
    count_script: "Script"
    gate_script: "Script"
    refund_script: "Script"


# Per cache backend object (Django keeps one per thread). Building a
# ``redis.Redis`` is ~0.1 ms and ``cache.*`` builds one per operation; the
# breaker runs on every provider call, so it keeps one.
_redis_handles: "weakref.WeakKeyDictionary[Any, _Redis]" = weakref.WeakKeyDictionary()


def _raw_key(key: str) -> str:
    """``ratelimit.raw_key`` without the per-character key validation (a
    memcached concern; these keys are ours and short)."""
    return caches["default"].make_key(key)


def _redis() -> _Redis | None:
    """The default cache's Redis client and serializer, or None if the cache
    is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    cache_client = backend._cache
    handle = _redis_handles.get(cache_client)
    if handle is None:
        from redis.commands.core import Script

        client = cache_client.get_client(write=True)
        handle = _Redis(
            line=_Line(client),
            loads=cache_client._serializer.loads,
            count_script=Script(client, _COUNT_LUA),
            gate_script=Script(client, _GATE_LUA),
            refund_script=Script(client, _REFUND_LUA),
        )
        _redis_handles[cache_client] = handle
    return handle


def _incr(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:
        # Expired between add and incr: this call starts the count.
        cache.set(key, 1, ttl)
        return 1


def _status_of(error: "ProviderError | None") -> int | None:
    return getattr(error, "http_status", None)


def _classify(error: "ProviderError | None", status: int | None) -> bool | None:
    """True: counts as a failure. False: the provider answered (healthy).
    None: never reached the provider (ignored)."""
    if error is not None and (
        isinstance(error, ConfigurationError) or error.code in _LOCAL_CODES
    ):
        return None
    if status is not None and status >= 500:
        return True
    if error is None:
        return status is None or status in _FAILING_STATUSES
    return error.outcome in (Outcome.NOT_PROCESSED, Outcome.UNKNOWN)


def breaker_for(
    account: "ProviderAccount", *, clock: Clock = time.time
) -> CircuitBreaker:
    return CircuitBreaker(account, clock=clock)


def breaker_mode_set(*, account: "ProviderAccount", mode: str, actor: str = "") -> None:
    """Save a staff override and make every process apply it at its next call."""
    previous = account.breaker_mode
    account.breaker_mode = BreakerMode(mode).value
    account.save(update_fields=["breaker_mode", "updated_at"])
    breaker_for(account).publish_mode(previous=previous, actor=actor)
