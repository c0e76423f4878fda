"""The circuit breaker's state machine (closed, open, half-open with one
probe across all processes) for one provider account; its state lives in
``BreakerStore``. States, thresholds and overrides: docs/transport.md."""

import copy
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError
from django.dispatch import receiver
from redis.exceptions import RedisError

from integrations import metrics
from integrations.breaker.store import BreakerStore
from integrations.breaker.verdict import classify, status_of
from integrations.errors import NotProcessed
from integrations.events import event_emit
from integrations.limits import limit_values
from integrations.models.accounts import BreakerMode
from integrations.redis_line import outage

if TYPE_CHECKING:
    from integrations.errors import ProviderError
    from integrations.models import ProviderAccount
    from integrations.ratelimit import RateLimiter, Reservation

# The package's logger: log routing and alerts key on "integrations.breaker".
logger = logging.getLogger(__package__)

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_RETRY_AFTER_STATUSES = frozenset({429, 503})

_KEYS = (
    "breaker_failure_rate",
    "breaker_min_calls",
    "breaker_window_seconds",
    "breaker_consecutive_failures",
    "breaker_open_seconds",
    "breaker_probe_timeout_seconds",
)


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
        values = limit_values(account, _KEYS)
        return cls(
            failure_rate=values["breaker_failure_rate"],
            min_calls=values["breaker_min_calls"],
            window_seconds=values["breaker_window_seconds"],
            buckets=max(1, int(settings.BREAKER_WINDOW_BUCKETS)),
            consecutive_failures=values["breaker_consecutive_failures"],
            open_seconds=values["breaker_open_seconds"],
            probe_timeout_seconds=values["breaker_probe_timeout_seconds"],
            max_retry_after_seconds=float(settings.BREAKER_MAX_RETRY_AFTER_SECONDS),
        )


@dataclass(frozen=True)
class BreakerSnapshot:
    """What callers experience now (``state``, forced modes applied) and the
    last transition, for the admin, health command and dashboard. ``state``
    None: unknown, Redis could not be read (``mode`` is then the row's)."""

    state: BreakerState | None
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
    the cache, so any number of instances in any process agree. Its time is
    the store's (``BreakerStore.now``), never this worker's ``clock``: kept
    for callers that pass one, it decides nothing."""

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
        self.store = BreakerStore(
            account.pk,
            window_seconds=self.config.window_seconds,
            buckets=self.config.buckets,
        )

    # -- the calls ProviderClient makes around every attempt --

    def before_call(self) -> None:
        """Return if a call may go out now; raise NotProcessed(breaker_open)
        otherwise. In half-open, lets exactly one caller through."""
        self._drop_probe()
        mode, rec = self._read()
        self._admit(mode, rec)

    def before_call_reserving(
        self,
        limiter: "RateLimiter",
        weight: float = 1,
        *,
        max_wait: float | None = None,
    ) -> "Reservation | None":
        """``before_call`` and the reservation of ``weight`` of ``limiter``'s
        tokens in a single Redis round trip (the client's hot path).

        Returns the reservation for the caller to honour (wait, or refuse as
        rate limited) once the breaker let the call through; None when the
        caller must still call ``limiter.acquire()`` (no rate limit, no Redis,
        or a breaker that is not plainly closed: its tokens are given back and
        the call takes the ordinary path, probe and all).
        """
        gated = self.store.gate(limiter, weight, max_wait)
        if gated is None:
            self.before_call()
            return None
        self._drop_probe()
        reservation, mode, rec = gated
        mode = mode or self.account.breaker_mode or BreakerMode.AUTO
        closed = rec is None or rec["state"] != BreakerState.OPEN
        if mode == BreakerMode.FORCED_CLOSED or (mode == BreakerMode.AUTO and closed):
            return reservation
        if reservation.granted:
            # The breaker decides first: no call goes out, so no token is used.
            self.store.refund(limiter, weight)
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
        now = self.store.now()
        if now < rec["opened_until"]:
            raise self._open_error(rec["opened_until"] - now)
        if not self._claim_probe(rec, now):
            raise self._open_error(self._probe_slot_left(rec, now))

    def admit_offline(self, *, claim: bool = True) -> None:
        """While Redis cannot be read: raise NotProcessed(breaker_open) if
        staff forced the account open (its row says so) or this process
        last read it open and its open period is not over, or another
        thread's call is its one try after it (``claim``: this call may be
        that try; a pre-check does not claim it); else return (the call
        goes out unguarded, ``store_guard``)."""
        mode = self.account.breaker_mode or BreakerMode.AUTO
        if mode == BreakerMode.FORCED_OPEN:
            raise NotProcessed(
                "circuit breaker forced open by staff", code="breaker_open"
            )
        if mode != BreakerMode.AUTO:
            return
        left = self.store.admit_kept(self.config.probe_timeout_seconds, claim=claim)
        if left is not None:
            raise self._open_error(left)

    def record_success(self) -> None:
        self.store.note_outcome(False, self.config.open_seconds)
        outage.check()  # after the note: it counts in an outage too
        gen = self._take_probe()
        if gen is not None:
            self._close_after_probe(gen)
            return
        self.store.count(self.store.now(), failed=False)

    def record_failure(
        self,
        error: "ProviderError | None",
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        status = http_status if http_status is not None else status_of(error)
        verdict = classify(error, status)
        self.store.note_outcome(verdict, self.config.open_seconds)
        outage.check()  # after the note: it counts in an outage too
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
        consec, calls, fails = self.store.count(self.store.now(), failed=True)
        reason = self._trip_reason(consec, calls, fails, code)
        if reason is not None:
            self._open(reason=reason, retry_after=ra, gen=None)
        elif ra:
            self._extend_open(ra)

    def record_ignored(self) -> None:
        """The call says nothing about the account's health (a paced bulk
        call it throttled): count nothing, free a probe this thread holds."""
        outage.check()  # in an outage's pause the probe's claim just expires
        self._release_probe()

    # -- reads --

    def snapshot(self) -> BreakerSnapshot:
        mode, rec = self._read()
        rec = rec or {}
        state = self._effective_state(mode, rec, self.store.now())
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

    def is_open(self, *, max_age: float | None = None) -> bool:
        """True while calls are refused outright (no probe chance). With
        ``max_age``, a read this process made that recently will do."""
        if max_age is None:
            mode, rec = self._read()
        else:
            mode, rec = self.store.recent(max_age)
            mode = mode or self.account.breaker_mode or BreakerMode.AUTO
        return self._effective_state(mode, rec or {}, self.store.now()) == "open"

    # -- staff override --

    def publish_mode(self, *, previous: str | None = None, actor: str = "") -> None:
        """Mirror the account's ``breaker_mode`` into the cache for every
        process, and record the change as the last transition."""
        mode = self.account.breaker_mode
        self.store.save_mode(mode)
        if previous == mode:
            return
        now = self.store.now()
        reason = f"mode set to {mode} by {actor or 'system'}"
        rec = self.store.record() or _closed_record(gen=0, at=now, reason="")
        rec.update(last_state=mode, at=now, reason=reason)
        self.store.save_record(rec)
        state = self._effective_state(mode, rec, now)
        self._announce("mode_changed", state, reason, rec)

    # -- internals --

    def _read(self) -> tuple[str, dict[str, Any] | None]:
        mode, rec = self.store.read()
        mode = mode or self.account.breaker_mode
        return mode or BreakerMode.AUTO, rec

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
        if gen is not None and gen != current:
            return
        if not self.store.lock_transition(current):
            return
        now = self.store.now()
        hold = max(self.config.open_seconds, retry_after or 0.0)
        rec = {
            "state": BreakerState.OPEN.value,
            "gen": current + 1,
            "opened_until": now + hold,
            "last_state": BreakerState.OPEN.value,
            "at": now,
            "reason": reason,
        }
        self.store.save_record(rec)
        self._announce("opened", BreakerState.OPEN, reason, rec)

    def _close_after_probe(self, gen: int) -> None:
        rec = self.store.record()
        if not rec or rec["gen"] != gen or rec["state"] != BreakerState.OPEN:
            return
        if not self.store.lock_transition(gen):
            return
        now = self.store.now()
        reason = "probe succeeded"
        rec = _closed_record(gen=gen + 1, at=now, reason=reason)
        self.store.save_record(rec)
        # Start the next closed period with a clean slate: failures from before
        # the outage must not trip the breaker again at once.
        self.store.reset_counts(now)
        self._announce("closed", BreakerState.CLOSED, reason, rec)

    def _extend_open(self, retry_after: float) -> None:
        rec = self.store.record()
        if not rec or rec["state"] != BreakerState.OPEN:
            return
        until = self.store.now() + retry_after
        if until <= rec["opened_until"]:
            return
        rec["opened_until"] = until
        self.store.save_record(rec)
        logger.info(
            "circuit breaker held open by retry-after",
            extra={"account": self.account.slug, "retry_after": retry_after},
        )

    # -- internals: the half-open probe --

    def _probe_key(self, rec: dict[str, Any], now: float) -> tuple[str, int]:
        # A new slot every probe_timeout: a probe that never reports back
        # frees the next slot even if the cache key outlives it.
        elapsed = now - rec["opened_until"]
        slot = int(elapsed // self.config.probe_timeout_seconds)
        return f"probe:{rec['gen']}:{slot}", slot

    def _probe_slot_left(self, rec: dict[str, Any], now: float) -> float:
        elapsed = now - rec["opened_until"]
        return self.config.probe_timeout_seconds - (
            elapsed % self.config.probe_timeout_seconds
        )

    def _claim_probe(self, rec: dict[str, Any], now: float) -> bool:
        key, slot = self._probe_key(rec, now)
        ttl = math.ceil(self.config.probe_timeout_seconds) + 1
        if not self.store.claim(key, ttl):
            return False
        _held_probes()[self.account.pk] = rec["gen"]
        reason = "open time over; one probe sent"
        if slot:
            reason = "previous probe did not report back; one probe sent"
        rec = {**rec, "last_state": BreakerState.HALF_OPEN.value}
        rec.update(at=now, reason=reason)
        self.store.save_record(rec)
        self._announce("half_open", BreakerState.HALF_OPEN, reason, rec)
        return True

    def _take_probe(self) -> int | None:
        """The generation of the probe this thread holds, if it still counts
        (a stale claim from an episode that has since ended does not)."""
        gen = _held_probes().pop(self.account.pk, None)
        if gen is None:
            return None
        rec = self.store.record()
        if not rec or rec["gen"] != gen or rec["state"] != BreakerState.OPEN:
            return None
        return gen

    def _drop_probe(self) -> None:
        _held_probes().pop(self.account.pk, None)

    def _release_probe(self) -> None:
        """The probe was refused locally before it reached the provider: let
        another caller probe instead of waiting out the probe timeout."""
        rec = self.store.record() if self._take_probe() is not None else None
        if rec is None:
            return
        key, _ = self._probe_key(rec, self.store.now())
        self.store.unclaim(key)

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
            name=f"integrations.breaker_{event}",
            payload=payload,
            subject=account.slug,
            kind=account.kind,
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


# Per account pk: (what the breaker was built from, the breaker). A breaker
# holds configuration only, so one built from an equal row serves every caller.
_built: dict[int, tuple[tuple[Any, ...], dict[str, Any], CircuitBreaker]] = {}


@receiver(setting_changed)
def _forget_built(**kwargs: Any) -> None:
    _built.clear()  # defaults come from Django settings


def breaker_for(
    account: "ProviderAccount", *, clock: Clock = time.time
) -> CircuitBreaker:
    """The account's breaker; built again when the row's mode, settings or
    the Django settings changed (a test's own clock always gets a new one)."""
    if clock is not time.time or account.pk is None:
        return CircuitBreaker(account, clock=clock)
    source = (
        account.breaker_mode,
        account.slug,
        account.kind,
        account.provider,
    )
    built = _built.get(account.pk)
    if built is None or built[0] != source or built[1] != account.settings:
        breaker = CircuitBreaker(account)
        built = (source, copy.deepcopy(account.settings), breaker)
        _built[account.pk] = built
    return built[2]


def breaker_snapshot_read(account: "ProviderAccount") -> BreakerSnapshot:
    """The account's snapshot; while Redis cannot be reached, the state
    unknown and the account row's mode, so pages and reports still answer.
    Redis is not asked in the outage's pause (``redis_line.outage``): a
    Redis that never answers costs a page one timeout, not one per row."""
    try:
        outage.check()
        snapshot = breaker_for(account).snapshot()
    except RedisError as exc:
        outage.failed(exc)
    else:
        outage.answered()
        return snapshot
    return BreakerSnapshot(
        state=None,
        mode=account.breaker_mode or BreakerMode.AUTO,
        opened_until=None,
        last_transition_at=None,
        last_reason="",
    )


def breaker_mode_set(*, account: "ProviderAccount", mode: str, actor: str = "") -> None:
    """Save a staff override and make every process apply it at its next call."""
    previous = account.breaker_mode
    account.breaker_mode = BreakerMode(mode).value
    account.save(update_fields=["breaker_mode", "updated_at"])
    breaker_for(account).publish_mode(previous=previous, actor=actor)
