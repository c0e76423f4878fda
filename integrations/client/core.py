"""ProviderClient: every outbound call to a provider goes through here, with
timeouts and a deadline, retries, the breaker and limiter, pacing for bulk
work, the call log and metrics. One client per account: ``client_for``.
Behaviour in full: docs/transport.md."""

import copy
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from django.utils import timezone

from integrations import correlation, metrics
from integrations import deadline as deadline_scope
from integrations.breaker import breaker_for
from integrations.client import call_rows, store
from integrations.client.classify import (
    Clock,
    ErrorMap,
    ExceptionMap,
    as_provider_error,
    classify_response,
    is_throttle,
    response_json,
)
from integrations.client.config import ClientConfig, settings_generation
from integrations.client.fallback import skip_retry_for
from integrations.client.session import (
    CallContext,
    ProviderSession,
    ProviderTransport,
    active_call,
    call_begun,
)
from integrations.client.store import AccountStore
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    Outcome,
    Paced,
    ProviderError,
    RedisUnreachable,
    Unknown,
)
from integrations.models.calls import CallOutcome
from integrations.ratelimit import limiter_for
from integrations.store_guard import UNGUARDED, count_guarded, gated

if TYPE_CHECKING:
    from integrations.breaker import CircuitBreaker
    from integrations.models import ProviderAccount
    from integrations.ratelimit import RateLimiter

# The package's logger: log routing and alerts key on "integrations.client".
logger = logging.getLogger(__package__)

T = TypeVar("T")
Sleep = Callable[[float], None]
Jitter = Callable[[float, float], float]

DEFAULT_IDEMPOTENCY_HEADER = "Idempotency-Key"
# Methods that never change anything, so never carry an idempotency key.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Errors a retry cannot fix: the breaker is open or unreadable, our own
# limiter already waited its bound, the credentials or request are wrong, or
# the provider redirects where the client does not follow.
NEVER_RETRY_CODES = frozenset(
    {
        "breaker_open",
        "rate_limited",
        "concurrency_limited",
        "paced",
        "store_unavailable",  # Redis unreachable: paused, not asked again
        "authentication_failed",
        "permission_denied",
        "invalid_request",
        "deadline_exceeded",
        "redirected",
    }
)


class ProviderClient:
    """Resilient calls to one provider account. Get one with ``client_for``;
    build one directly to inject ``clock``/``sleep``/``jitter`` in tests."""

    def __init__(
        self,
        account: "ProviderAccount",
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        jitter: Jitter = random.uniform,
        wall_clock: Clock = time.time,
        config: ClientConfig | None = None,
    ) -> None:
        self.account = account
        self.config = config or ClientConfig.for_account(account)
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._wall_clock = wall_clock
        self._guard_cache: tuple[Any, Any, Any, Any] | None = None
        # What ``client_for`` last derived ``config`` from.
        self._config_source: tuple[int, Any] | None = None
        self.session: requests.Session = ProviderSession(self.config.redirects)
        transport = ProviderTransport(self.config, max_retries=0)
        self.session.mount("http://", transport)
        self.session.mount("https://", transport)

    def __repr__(self) -> str:
        return f"<ProviderClient {self.account.slug}>"

    def close(self) -> None:
        self.session.close()

    # --- Public surface -----------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        idempotent: bool,
        idempotency_key: str | None = None,
        idempotency_header: str | None = DEFAULT_IDEMPOTENCY_HEADER,
        error_map: ErrorMap | None = None,
        expect_json: bool = False,
        pacing: bool = False,
        weight: float = 1,
        max_wait: float | None = None,
        **requests_kwargs: Any,
    ) -> requests.Response:
        """One operation: retried HTTP attempts, one ``ProviderCall`` row.

        ``error_map(response)`` may return a ``ProviderError`` (or None for the
        default mapping) for any response, 2xx included. ``expect_json`` makes
        a malformed JSON body an ``Unknown`` inside the operation, so the row
        and the retry policy see it. Each attempt takes ``weight`` rate-limit
        tokens; ``pacing=True`` (bulk work) waits for the rate limit, ours and
        the provider's 429, up to ``max_wait`` seconds in all (default: the
        deadline), then raises ``Paced``. Raises ``ProviderError`` subclasses.
        """
        method = method.upper()
        pace = (pacing, weight, max_wait)
        with self._operation(operation, idempotent, idempotency_key, pace) as ctx:
            headers = dict(requests_kwargs.pop("headers", None) or {})
            keyed = bool(idempotency_header) and method not in SAFE_METHODS
            ctx.prewrite = ctx.prewrite and keyed
            if keyed:
                headers[idempotency_header] = ctx.idempotency_key

            def attempt() -> requests.Response:
                response = self.session.request(
                    method, url, headers=headers, **requests_kwargs
                )
                self._check(response, error_map, expect_json)
                return response

            return self._retry(ctx, attempt, None)

    def call(
        self,
        operation: str,
        fn: Callable[[CallContext], T],
        *,
        idempotent: bool,
        idempotency_key: str | None = None,
        exception_map: ExceptionMap | None = None,
        pacing: bool = False,
        weight: float = 1,
        max_wait: float | None = None,
    ) -> T:
        """Run ``fn(ctx)`` (an SDK call using ``self.session``) as one
        operation, retried (and paced) like ``request``."""
        pace = (pacing, weight, max_wait)
        with self._operation(operation, idempotent, idempotency_key, pace) as ctx:
            return self._retry(ctx, lambda: fn(ctx), exception_map)

    @contextmanager
    def operation(
        self,
        name: str,
        *,
        idempotent: bool = False,
        idempotency_key: str | None = None,
        exception_map: ExceptionMap | None = None,
        pacing: bool = False,
        weight: float = 1,
        max_wait: float | None = None,
    ) -> Iterator[CallContext]:
        """One operation of a single attempt around an SDK call (see
        docs/transport.md). Exceptions leaving the block become
        ``ProviderError``."""
        pace = (pacing, weight, max_wait)
        with (
            self._operation(name, idempotent, idempotency_key, pace) as ctx,
            self._attempt(ctx, exception_map),
        ):
            yield ctx

    # --- One operation ---------------------------------------------------------

    @contextmanager
    def _operation(
        self,
        name: str,
        idempotent: bool,
        idempotency_key: str | None,
        pace: tuple[bool, float, float | None],
    ) -> Iterator[CallContext]:
        pacing, weight, max_wait = pace
        with ExitStack() as stack:
            # Outside a request or task, the id lives for this operation only:
            # setting it for good would stamp every later log line of the
            # thread (a worker's next tasks) with it.
            correlation_id = correlation.get() or stack.enter_context(
                correlation.bind(None)
            )
            now = self._clock()
            # A caller's scope (a fan-out run) may end sooner.
            deadline = now + deadline_scope.clamp(self.config.deadline_seconds)
            ctx = CallContext(
                operation=name,
                idempotent=idempotent,
                idempotency_key=idempotency_key or uuid.uuid4().hex,
                correlation_id=correlation_id,
                deadline=deadline,
                clock=self._clock,
                started=now,
                pacing=pacing,
                weight=weight,
                pace_deadline=deadline if max_wait is None else now + max_wait,
            )
            with self._tracked(ctx):
                yield ctx

    @contextmanager
    def _tracked(self, ctx: CallContext) -> Iterator[None]:
        call_begun()
        token = active_call.set(ctx)
        try:
            yield
        except ProviderError as error:
            self._finish(ctx, error)
            raise
        except Exception:
            # A bug or an infrastructure failure (cache, database) on our side.
            self._finish(ctx, Unknown("internal error", code="internal_error"))
            raise
        else:
            self._finish(ctx, None)
        finally:
            active_call.reset(token)

    def _retry(
        self,
        ctx: CallContext,
        attempt: Callable[[], T],
        exception_map: ExceptionMap | None,
    ) -> T:
        uncertain: ProviderError | None = None
        retry = throttled = 0
        while True:
            try:
                with self._attempt(ctx, exception_map):
                    return attempt()
            except ProviderError as error:
                if error.outcome is Outcome.UNKNOWN and uncertain is None:
                    uncertain = error
                if ctx.pacing and is_throttle(error):
                    # Paced: the provider asked us to slow down; not a retry.
                    delay = self._paced_delay(ctx, error, throttled)
                    throttled += 1
                else:
                    delay = self._retry_delay(ctx, error, retry)
                    retry += 1
                if delay is None:
                    if uncertain is not None and error.outcome is Outcome.NOT_PROCESSED:
                        # An earlier attempt may have taken effect.
                        raise uncertain from error
                    final = self._final(ctx, error)
                    if final is error:
                        raise
                    raise final from error
                self._log_retry(ctx, error, delay)
            self._sleep(delay)

    def _final(self, ctx: CallContext, error: ProviderError) -> ProviderError:
        """The error the operation ends with: a throttle outlasting a paced
        call's budget is ``Paced`` (come back later), anything else itself."""
        if not (ctx.pacing and is_throttle(error)):
            return error
        return Paced(
            "provider rate limit outlasts the pacing budget",
            http_status=error.http_status,
            retry_after=error.retry_after,
        )

    @contextmanager
    def _attempt(
        self, ctx: CallContext, exception_map: ExceptionMap | None
    ) -> Iterator[None]:
        if ctx.remaining() <= 0:
            raise NotProcessed(
                "deadline passed before the attempt", code="deadline_exceeded"
            )
        breaker, limiter = self._guards()
        # One Redis round trip for the breaker's state and the rate limit.
        reservation = gated(
            lambda: breaker.before_call_reserving(
                limiter, ctx.weight, max_wait=self._reserve_bound(ctx, limiter)
            ),
            paced=ctx.pacing,
            breaker=breaker,
        )
        try:
            if reservation is not UNGUARDED:
                self._take_tokens(ctx, limiter, reservation)
            if ctx.prewrite:
                call_rows.open_row(self.account, ctx)
            with self._slot(ctx, limiter):
                try:
                    yield
                except Exception as exc:
                    error = as_provider_error(exc, exception_map)
                    if error is exc:
                        raise
                    raise error from exc
        except ProviderError as error:
            if ctx.pacing and is_throttle(error):
                count_guarded(breaker.record_ignored)  # throttled, not failing
                raise
            # Our own refusals (rate limited) are reported too: the breaker
            # ignores them for counting but frees a half-open probe they hold.
            count_guarded(
                breaker.record_failure,
                error,
                http_status=error.http_status,
                retry_after=error.retry_after,
            )
            raise
        count_guarded(breaker.record_success)

    def _take_tokens(
        self, ctx: CallContext, limiter: "RateLimiter", reservation: Any
    ) -> None:
        if ctx.pacing:
            budget = max(ctx.pace_left(), 0.0)
            ctx.waited(limiter.pace(ctx.weight, budget=budget, first=reservation))
        elif reservation is None:
            limiter.acquire(ctx.weight)
        else:
            limiter.honour(reservation)

    def _reserve_bound(self, ctx: CallContext, limiter: "RateLimiter") -> float | None:
        """How far into debt the first reservation may go: the limiter's
        bound, or for a paced call no further than its budget allows."""
        if not ctx.pacing or limiter.config.rate is None:
            return None
        return min(limiter.config.bound(ctx.weight), max(ctx.pace_left(), 0.0))

    @contextmanager
    def _slot(self, ctx: CallContext, limiter: "RateLimiter") -> Iterator[None]:
        if not ctx.pacing:
            with limiter.concurrency_slot():
                yield
            return
        start = self._clock()
        budget = max(ctx.pace_left(), 0.0)
        with limiter.concurrency_slot(max_wait=budget, paced=True):
            ctx.waited(self._clock() - start)
            yield

    def _guards(self) -> tuple["CircuitBreaker", "RateLimiter"]:
        """The account's breaker and limiter, built again only when the row
        ``client_for`` swapped in differs in mode, slug, kind, provider or
        settings (both hold configuration only; their state is in the cache)."""
        account = self.account
        state = (
            account.breaker_mode,
            account.slug,
            account.kind,
            account.provider,
            settings_generation(),
        )
        cached = self._guard_cache
        if (
            cached is None
            or cached[0].pk != account.pk
            or cached[1] != state
            or cached[2] != account.settings
        ):
            guards = (breaker_for(account), limiter_for(account))
            # A copy: an edit made in place to the dict must not go unseen.
            settings_copy = copy.deepcopy(account.settings)
            cached = self._guard_cache = (account, state, settings_copy, guards)
        return cached[3]

    def _check(
        self,
        response: requests.Response,
        error_map: ErrorMap | None,
        expect_json: bool,
    ) -> None:
        error = error_map(response) if error_map is not None else None
        if error is None:
            error = classify_response(response, wall_clock=self._wall_clock)
        if error is not None:
            raise error
        if expect_json:
            response_json(response)

    def _retry_delay(
        self, ctx: CallContext, error: ProviderError, retry: int
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to stop."""
        if retry + 1 >= self.config.max_attempts or not may_retry(ctx, error):
            return None
        if error.retry_after is not None:
            if error.retry_after > self.config.retry_after_cap_seconds:
                return None
            delay = error.retry_after
        else:
            delay = self._backoff(retry)
        if self._clock() + delay >= ctx.deadline:
            return None
        return delay

    def _paced_delay(
        self, ctx: CallContext, error: ProviderError, throttled: int
    ) -> float | None:
        """The provider's Retry-After, never less than one back-off step (a
        ``Retry-After: 0`` or none backs off as a retry would), if the paced
        budget and the throttled-attempt cap have room for it; None to stop.
        The wait extends the deadline."""
        if throttled + 1 >= self.config.max_throttled_attempts:
            return None
        step = self.config.backoff_base_seconds
        delay = error.retry_after
        if delay is None or delay < step:
            delay = max(step, self._backoff(throttled))
        if delay > ctx.pace_left():
            return None
        ctx.waited(delay)
        return delay

    def _backoff(self, retry: int) -> float:
        bound = self.config.backoff_base_seconds * 2**retry
        return self._jitter(0, min(self.config.backoff_cap_seconds, bound))

    # --- Call log, metrics, logs ------------------------------------------------

    def _finish(self, ctx: CallContext, error: ProviderError | None) -> None:
        duration = max(0.0, self._clock() - ctx.started)
        outcome = CallOutcome.SUCCESS if error is None else CallOutcome(error.outcome)
        status = ctx.http_status
        if error is not None and error.http_status is not None:
            status = error.http_status
        values = {
            "outcome": outcome.value,
            "http_status": status,
            "attempts": ctx.attempts,
            "duration_ms": round(duration * 1000),
            "error_code": error.code if error is not None else "",
            "finished_at": timezone.now(),
        }
        call_rows.write_finished(self.account, ctx, values)
        metrics.record_call(
            account_slug=self.account.slug,
            operation=ctx.operation,
            outcome=outcome.value,
            duration_seconds=duration,
            attempts=ctx.attempts,
            error_code=values["error_code"],
        )
        self._log_finish(ctx, values)

    def _log_finish(self, ctx: CallContext, values: dict[str, Any]) -> None:
        success = values["outcome"] == CallOutcome.SUCCESS
        # Refused for our Redis outage: its record warns once, not per call.
        ours = values["error_code"] == RedisUnreachable.default_code
        logger.log(
            logging.INFO if success or ours else logging.WARNING,
            "provider call finished",
            extra={
                "account": self.account.slug,
                "operation": ctx.operation,
                "outcome": str(values["outcome"]),
                "http_status": values["http_status"],
                "attempts": values["attempts"],
                "duration_ms": values["duration_ms"],
                "error_code": values["error_code"],
                "correlation_id": ctx.correlation_id,
                "idempotency_key": ctx.idempotency_key,
            },
        )

    def _log_retry(self, ctx: CallContext, error: ProviderError, delay: float) -> None:
        logger.info(
            "provider call retrying",
            extra={
                "account": self.account.slug,
                "operation": ctx.operation,
                "outcome": str(error.outcome),
                "error_code": error.code,
                "http_status": error.http_status,
                "attempts": ctx.attempts,
                "delay_seconds": round(delay, 3),
                "correlation_id": ctx.correlation_id,
            },
        )


def may_retry(ctx: CallContext, error: ProviderError) -> bool:
    if error.outcome is Outcome.REJECTED:
        return False
    if error.code in NEVER_RETRY_CODES or isinstance(error, ConfigurationError):
        return False
    if skip_retry_for(error.code):
        return False
    if error.outcome is Outcome.UNKNOWN:
        return ctx.idempotent
    return True


# --- One client per account per process ---------------------------------------------

_store: AccountStore[int, ProviderClient] = AccountStore(ProviderClient.close)
# The store's own dict and lock.
_clients = _store.entries
_clients_lock = _store.lock


def client_for(
    account: "ProviderAccount", client_class: type[ProviderClient] = ProviderClient
) -> ProviderClient:
    """The process's client for ``account`` (its session and connection pool
    are reused), a ``client_class``. Rebuilt when the account's client
    settings change; closed when the account is disabled, deleted or idle
    (``integrations.client.store``)."""
    store.sweep()  # every store's idle entries, at most once a minute
    # The config is derived from the row's settings and the Django settings:
    # only rebuilt (a dozen setting reads) when either changed.
    source = (settings_generation(), account.settings)
    with _clients_lock:
        client = _clients.get(account.pk)
        if client is not None and type(client) is not client_class:
            client = None
        if client is not None and client._config_source == source:
            # The freshest row, so breaker and limiter see the admin's changes.
            client.account = account
            _store.used(account.pk)
            return client
    config = ClientConfig.for_account(account)
    replaced: list[ProviderClient] = []
    with _clients_lock:
        client = _clients.get(account.pk)
        stale = client is not None and type(client) is not client_class
        if client is None or stale or client.config != config:
            client = client_class(account, config=config)
            replaced = _store.put(account.pk, client)
        else:
            client.account = account
            _store.used(account.pk)
        # A copy: an edit made in place to the row's dict must not go unseen.
        client._config_source = (source[0], copy.deepcopy(account.settings))
    _store.close(replaced)
    return client
