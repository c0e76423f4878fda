"""ProviderClient: every outbound call to a provider goes through here.

One client per account (``client_for(account)``) owns a ``requests.Session``
and does, for every adapter, what no adapter may do itself: timeouts and an
overall deadline, the correlation id, idempotency keys, retries, the circuit
breaker and rate limiter, the call log (``ProviderCall``) and metrics.

One *operation* (``operation=`` name, e.g. ``"create_payment"``) is one
``ProviderCall`` row and may make several HTTP attempts:

- The idempotency key is made once per operation (``uuid4``; never from a
  clock) unless the caller passes one, stored on the row (``in_progress``)
  before the first attempt and sent in ``idempotency_header`` on every
  attempt of a POST-like method. A GET sends no key and changes nothing, so
  its row is written once, when it ends.
- Each attempt passes ``breaker_for(account).before_call()`` and the account's
  rate limiter and concurrency cap, and reports success or failure back.
- Failures become ``NotProcessed``/``Unknown``/``Rejected`` (tables below).
  ``not_processed`` is retried; ``unknown`` only when ``idempotent=True`` (a
  GET, or a POST the provider dedupes by idempotency key); ``rejected`` never.
  Errors the breaker, our rate limiter, 401/403 or configuration raise are
  never retried: another try cannot succeed.
- Back-off is full jitter: ``uniform(0, min(cap, base * 2**retry))``. A
  ``Retry-After`` (seconds or HTTP-date) is waited instead; one longer than
  ``retry_after_cap_seconds`` is not waited for and the error is raised.
- No retry is made whose sleep would end past the deadline; every attempt's
  connect and read timeouts are clamped to the time left.
- Once an attempt ended ``unknown``, a later ``not_processed`` cannot make the
  operation ``not_processed``: the first attempt may have taken effect, so the
  ``Unknown`` is raised and failover stops.

Timeouts and retries per account (``ProviderAccount.settings`` keys; the
defaults are the ``PROVIDER_*`` settings):

==========================  ==================================================
``connect_timeout``         seconds to open a connection, per attempt
``read_timeout``            seconds of silence while reading, per attempt
``deadline_seconds``        whole operation, retries and back-off included
``max_attempts``            attempts per operation, the first included
``backoff_base_seconds``    first back-off bound; doubles per retry
``backoff_cap_seconds``     largest back-off bound
``retry_after_cap_seconds``  longest ``Retry-After`` we wait for
==========================  ==================================================

Default mapping of HTTP statuses (``classify_response``); an adapter passes
``error_map`` to override (e.g. a provider that replays a 5xx by idempotency
key can turn it into ``NotProcessed``, or a 200 carrying an error object into
``Rejected``):

=========  ==============  =========================
status     outcome         code
=========  ==============  =========================
401        not_processed   ``authentication_failed``
403        not_processed   ``permission_denied``
429        not_processed   ``too_many_requests`` (with ``retry_after``)
409        rejected        ``idempotency_conflict``
other 4xx  rejected        see ``STATUS_CODES``, else ``client_error``
5xx        unknown         ``server_error`` (``retry_after`` if sent)
=========  ==============  =========================

Default mapping of transport exceptions (``classify_exception``):

=============================================  ==============  ================
exception                                      outcome         code
=============================================  ==============  ================
connection refused / unreachable               not_processed   connection_refused
DNS failure                                    not_processed   dns_failure
``ConnectTimeout``                             not_processed   connect_timeout
``SSLError`` (TLS handshake)                   not_processed   tls_error
``ProxyError``                                 not_processed   proxy_error
bad URL / header                               not_processed   invalid_request
``ReadTimeout``                                unknown         read_timeout
reset / closed after the request was sent      unknown         connection_reset
``ChunkedEncodingError``, decoding errors      unknown         response_interrupted
malformed JSON body (``response_json``)        unknown         malformed_response
=============================================  ==============  ================

Proxies and CA bundle come from the environment as in requests
(``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY`` in either case,
``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``.netrc``), but the session reads
them once per origin (scheme, host and port) instead of on every request;
a changed environment applies to clients built afterwards (restart the
process). See ``_ProviderSession``.

The finished call's row is written in one statement; on PostgreSQL outside a
caller's transaction it commits with ``synchronous_commit`` off for that
statement only (``_write_relaxed``), from a background thread unless
``PROVIDER_CALL_LOG_LINGER_MS`` is 0 (``integrations.call_log``). The row
written before the first attempt (with the idempotency key) is always an
ordinary, durable commit, in the call.

SDKs (Stripe, Braintree): point the SDK's HTTP layer at ``client.session``
and wrap each SDK call in ``client.operation`` (one attempt; give the SDK no
retries of its own) or ``client.call`` (retried like ``request``)::

    http = stripe.RequestsClient(session=client.session)
    sdk = stripe.StripeClient(api_key, http_client=http, max_network_retries=0)
    with client.operation("create_payment", idempotent=True,
                          exception_map=map_stripe_error) as op:
        intent = sdk.payment_intents.create(
            params, options={"idempotency_key": op.idempotency_key})

Requests the SDK sends through the session get the ``X-Correlation-ID``
header and timeouts clamped to the operation's deadline, and count as
attempts with their HTTP status on the row. ``exception_map`` turns the
SDK's exceptions into ``ProviderError``; unmapped ones become
``Unknown("unexpected_error")``.
"""

import copy
import functools
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError, connections, router
from django.dispatch import receiver
from django.utils import timezone
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
)

from integrations import call_log, correlation, deadline, metrics
from integrations.breaker import breaker_for
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    Outcome,
    ProviderError,
    Rejected,
    Unknown,
)
from integrations.models.calls import CallOutcome, ProviderCall
from integrations.ratelimit import limiter_for

if TYPE_CHECKING:
    from integrations.breaker import CircuitBreaker
    from integrations.models import ProviderAccount
    from integrations.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]
Jitter = Callable[[float, float], float]
ErrorMap = Callable[[requests.Response], ProviderError | None]
ExceptionMap = Callable[[Exception], ProviderError | None]

DEFAULT_IDEMPOTENCY_HEADER = "Idempotency-Key"
# Methods that never change anything, so never carry an idempotency key.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Timeouts must stay positive or the socket turns non-blocking.
_MIN_TIMEOUT = 0.001

# Not-processed errors a retry cannot fix: the breaker is open, our own limiter
# already waited its bound, or the credentials or request are wrong.
NEVER_RETRY_CODES = frozenset(
    {
        "breaker_open",
        "rate_limited",
        "concurrency_limited",
        "authentication_failed",
        "permission_denied",
        "invalid_request",
        "deadline_exceeded",
    }
)

STATUS_CODES: Mapping[int, tuple[type[ProviderError], str]] = {
    400: (Rejected, "bad_request"),
    401: (NotProcessed, "authentication_failed"),
    402: (Rejected, "payment_required"),
    403: (NotProcessed, "permission_denied"),
    404: (Rejected, "not_found"),
    408: (Rejected, "request_timeout"),
    409: (Rejected, "idempotency_conflict"),
    410: (Rejected, "gone"),
    422: (Rejected, "unprocessable"),
    429: (NotProcessed, "too_many_requests"),
}


# --- Configuration -----------------------------------------------------------


@dataclass(frozen=True)
class ClientConfig:
    connect_timeout: float
    read_timeout: float
    deadline_seconds: float
    max_attempts: int
    backoff_base_seconds: float
    backoff_cap_seconds: float
    retry_after_cap_seconds: float

    @classmethod
    def defaults(cls) -> "ClientConfig":
        return cls(
            connect_timeout=settings.PROVIDER_CONNECT_TIMEOUT,
            read_timeout=settings.PROVIDER_READ_TIMEOUT,
            deadline_seconds=settings.PROVIDER_DEADLINE_SECONDS,
            max_attempts=settings.PROVIDER_MAX_ATTEMPTS,
            backoff_base_seconds=settings.PROVIDER_BACKOFF_BASE_SECONDS,
            backoff_cap_seconds=settings.PROVIDER_BACKOFF_CAP_SECONDS,
            retry_after_cap_seconds=settings.PROVIDER_RETRY_AFTER_CAP_SECONDS,
        )

    @classmethod
    def for_account(cls, account: "ProviderAccount") -> "ClientConfig":
        base = cls.defaults()
        values = {f.name: getattr(base, f.name) for f in fields(cls)}
        overrides = account.settings or {}
        for name, default in values.items():
            if overrides.get(name) in (None, ""):
                continue
            values[name] = _number(overrides[name], default, name, account)
        return cls(**values)


def _number(value: Any, default: float, name: str, account: Any) -> Any:
    # A typo in the admin must not take the account down: keep the default.
    try:
        number = type(default)(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number <= 0:
        logger.warning(
            "provider client setting ignored",
            extra={"account": account.slug, "setting": name},
        )
        return default
    return number


# --- Error taxonomy ------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or
    HTTP-date, relative to ``now`` as a Unix time); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _server_now(response: requests.Response, wall_clock: Clock) -> float:
    # An HTTP-date is measured against the server's own clock when it sends
    # one, so clock skew between us and the provider does not matter.
    date = response.headers.get("Date")
    if date:
        try:
            return parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            pass
    return wall_clock()


def classify_response(
    response: requests.Response, *, wall_clock: Clock = time.time
) -> ProviderError | None:
    """The default error for an HTTP response, or None if it succeeded."""
    status = response.status_code
    if status < 400:
        return None
    retry_after = parse_retry_after(
        response.headers.get("Retry-After"),
        now=_server_now(response, wall_clock),
    )
    if status >= 500:
        error_class, code = Unknown, "server_error"
    else:
        error_class, code = STATUS_CODES.get(status, (Rejected, "client_error"))
    return error_class(
        f"provider answered HTTP {status}",
        code=code,
        http_status=status,
        retry_after=retry_after,
    )


def classify_exception(exc: requests.RequestException) -> ProviderError:
    """The default error for a transport exception raised by requests."""
    # Order matters: ConnectTimeout and SSLError are ConnectionErrors.
    if isinstance(exc, requests.ConnectTimeout):
        return NotProcessed(
            "connecting to the provider timed out", code="connect_timeout"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return NotProcessed("TLS handshake with the provider failed", code="tls_error")
    if isinstance(exc, requests.exceptions.ProxyError):
        return NotProcessed("proxy refused the connection", code="proxy_error")
    if isinstance(exc, requests.ReadTimeout):
        return Unknown("provider did not answer in time", code="read_timeout")
    if isinstance(exc, requests.ConnectionError):
        return _classify_connection_error(exc)
    if isinstance(
        exc,
        requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError,
    ):
        return Unknown("provider response was cut off", code="response_interrupted")
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema
        | requests.exceptions.InvalidHeader
        | requests.exceptions.URLRequired,
    ):
        return ConfigurationError("request could not be built", code="invalid_request")
    return Unknown("transport error talking to the provider", code="transport_error")


def _classify_connection_error(exc: requests.ConnectionError) -> ProviderError:
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    # NameResolutionError < NewConnectionError < ConnectTimeoutError in urllib3 2.
    if isinstance(reason, NameResolutionError):
        return NotProcessed("provider host name did not resolve", code="dns_failure")
    if isinstance(reason, NewConnectionError):
        return NotProcessed(
            "provider refused the connection", code="connection_refused"
        )
    if isinstance(reason, ConnectTimeoutError):
        return NotProcessed(
            "connecting to the provider timed out", code="connect_timeout"
        )
    if isinstance(reason, ProtocolError):
        return Unknown(
            "connection dropped after the request was sent", code="connection_reset"
        )
    # Anything else may have happened after sending: assume it did.
    return Unknown("connection to the provider failed", code="connection_reset")


def response_json(response: requests.Response) -> Any:
    """The decoded JSON body; ``Unknown(malformed_response)`` if it is not
    JSON: the provider may have acted on the request before failing."""
    try:
        return response.json()
    except ValueError:
        # Not chained: the decode error holds the body, which may hold secrets.
        raise Unknown(
            "provider sent a malformed JSON body",
            code="malformed_response",
            http_status=response.status_code,
        ) from None


def as_provider_error(
    exc: Exception, exception_map: ExceptionMap | None = None
) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if exception_map is not None:
        mapped = exception_map(exc)
        if mapped is not None:
            return mapped
    if isinstance(exc, requests.RequestException):
        return classify_exception(exc)
    # A bug in an adapter or SDK: keep the traceback (type and frames only
    # reach the JSON log's ``exc`` field, never the ProviderCall row).
    logger.error("unexpected error during a provider call", exc_info=exc)
    return Unknown("unexpected error during a provider call", code="unexpected_error")


# --- Operation state -------------------------------------------------------------


@dataclass
class CallContext:
    """One operation in flight; what ``ProviderClient.operation`` yields."""

    operation: str
    idempotent: bool
    idempotency_key: str
    correlation_id: str
    deadline: float  # on the client's clock
    clock: Clock
    started: float
    attempts: int = 0
    http_status: int | None = None
    call_id: int | None = None
    # Write the row before the first attempt. Skipped only for requests that
    # carry no idempotency key (GETs): they change nothing, so there is nothing
    # for reconciliation to look up, and one database write is saved.
    prewrite: bool = True
    started_at: Any = field(default_factory=timezone.now)

    def remaining(self) -> float:
        return self.deadline - self.clock()


_active: ContextVar[CallContext | None] = ContextVar("provider_call", default=None)


class _ProviderSession(requests.Session):
    """A ``requests.Session`` that reads proxy settings from the environment
    once per origin instead of on every request.

    Plain requests calls ``get_environ_proxies`` for every request (two scans
    of ``os.environ`` plus the ``NO_PROXY`` match, ~0.1-1 ms). Here the result
    of that very function is kept per (scheme, host:port, ``no_proxy``), so
    ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` (either case) and
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` mean exactly what they mean to
    requests, but are read when the client first talks to an origin: a change
    made to the environment of a running process reaches new clients only
    (``client_for`` keeps one per account per process; restart to apply).
    ``trust_env`` stays on, so ``.netrc`` and proxies on redirects behave as
    in requests; ``trust_env = False`` turns the environment off altogether.
    """

    _MAX_ORIGINS = 256

    def __init__(self) -> None:
        super().__init__()
        self._env_proxies: dict[tuple[str, str, str | None], dict[str, str]] = {}
        self._env_verify: str | None = os.environ.get(
            "REQUESTS_CA_BUNDLE"
        ) or os.environ.get("CURL_CA_BUNDLE")

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: Any,
        stream: Any,
        verify: Any,
        cert: Any,
    ) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(
                url, proxies, stream, verify, cert
            )
        url = url.decode() if isinstance(url, bytes) else str(url)
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        env_proxies = self._env_proxies.get(key)
        if env_proxies is None:
            if len(self._env_proxies) >= self._MAX_ORIGINS:
                self._env_proxies.clear()
            env_proxies = get_environ_proxies(url, no_proxy=no_proxy)
            self._env_proxies[key] = env_proxies
        if proxies is not None:
            for name, value in env_proxies.items():
                proxies.setdefault(name, value)
        if verify is True or verify is None:
            verify = self._env_verify or verify
        return {
            "proxies": _merge_proxies(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


def _merge_proxies(given: Any, session_proxies: Any) -> Any:
    """``merge_setting`` for proxies, without its generic (and, in requests
    2.34, slow: runtime protocol checks) merge when the session has none."""
    if given is None or session_proxies:
        return merge_setting(given, session_proxies)
    return {name: url for name, url in given.items() if url is not None}


class _Transport(HTTPAdapter):
    """Mounted on the client's session, so a request from ``request()`` or an
    SDK is counted, carries the correlation id and respects the deadline."""

    def __init__(self, config: ClientConfig, **kwargs: Any) -> None:
        # Not ``config``: HTTPAdapter already uses that name.
        self.client_config = config
        super().__init__(**kwargs)

    def send(
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        ctx = _active.get()
        if ctx is not None:
            correlation_id = ctx.correlation_id
        else:
            correlation_id = correlation.get() or correlation.new_id()
        request.headers.setdefault(correlation.HEADER, correlation_id)
        kwargs["timeout"] = self._timeout(kwargs.get("timeout"), ctx)
        if ctx is not None:
            ctx.attempts += 1
        response = super().send(request, **kwargs)
        if ctx is not None:
            ctx.http_status = response.status_code
        return response

    def _timeout(self, given: Any, ctx: CallContext | None) -> tuple[float, float]:
        connect = self.client_config.connect_timeout
        read = self.client_config.read_timeout
        if isinstance(given, tuple):
            connect = min(connect, given[0] or connect)
            read = min(read, given[1] or read)
        elif isinstance(given, int | float):
            connect, read = min(connect, given), min(read, given)
        if ctx is not None:
            left = ctx.remaining()
            connect, read = min(connect, left), min(read, left)
        return max(connect, _MIN_TIMEOUT), max(read, _MIN_TIMEOUT)


# --- The client ------------------------------------------------------------------


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
        self.session: requests.Session = _ProviderSession()
        transport = _Transport(self.config, max_retries=0)
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
        **requests_kwargs: Any,
    ) -> requests.Response:
        """One operation: retried HTTP attempts, one ``ProviderCall`` row.

        ``error_map(response)`` may return a ``ProviderError`` (or None for the
        default mapping) for any response, 2xx included. ``expect_json`` makes
        a malformed JSON body an ``Unknown`` inside the operation, so the row
        and the retry policy see it. Raises ``ProviderError`` subclasses.
        """
        method = method.upper()
        with self._operation(operation, idempotent, idempotency_key) as ctx:
            headers = dict(requests_kwargs.pop("headers", None) or {})
            ctx.prewrite = bool(idempotency_header) and method not in _SAFE_METHODS
            if ctx.prewrite:
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
    ) -> T:
        """Run ``fn(ctx)`` (an SDK call using ``self.session``) as one
        operation, retried like ``request``."""
        with self._operation(operation, idempotent, idempotency_key) as ctx:
            return self._retry(ctx, lambda: fn(ctx), exception_map)

    @contextmanager
    def operation(
        self,
        name: str,
        *,
        idempotent: bool = False,
        idempotency_key: str | None = None,
        exception_map: ExceptionMap | None = None,
    ) -> Iterator[CallContext]:
        """One operation of a single attempt around an SDK call (see the module
        docstring). Exceptions leaving the block become ``ProviderError``."""
        with (
            self._operation(name, idempotent, idempotency_key) as ctx,
            self._attempt(ctx, exception_map),
        ):
            yield ctx

    # --- One operation ---------------------------------------------------------

    @contextmanager
    def _operation(
        self, name: str, idempotent: bool, idempotency_key: str | None
    ) -> Iterator[CallContext]:
        with ExitStack() as stack:
            # Outside a request or task, the id lives for this operation only:
            # setting it for good would stamp every later log line of the
            # thread (a worker's next tasks) with it.
            correlation_id = correlation.get() or stack.enter_context(
                correlation.bind(None)
            )
            now = self._clock()
            ctx = CallContext(
                operation=name,
                idempotent=idempotent,
                idempotency_key=idempotency_key or uuid.uuid4().hex,
                correlation_id=correlation_id,
                # A caller's scope (a fan-out run) may end sooner.
                deadline=now + deadline.clamp(self.config.deadline_seconds),
                clock=self._clock,
                started=now,
            )
            with self._tracked(ctx):
                yield ctx

    @contextmanager
    def _tracked(self, ctx: CallContext) -> Iterator[None]:
        token = _active.set(ctx)
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
            _active.reset(token)

    def _retry(
        self,
        ctx: CallContext,
        attempt: Callable[[], T],
        exception_map: ExceptionMap | None,
    ) -> T:
        uncertain: ProviderError | None = None
        retry = 0
        while True:
            try:
                with self._attempt(ctx, exception_map):
                    return attempt()
            except ProviderError as error:
                if error.outcome is Outcome.UNKNOWN and uncertain is None:
                    uncertain = error
                delay = self._retry_delay(ctx, error, retry)
                if delay is None:
                    if uncertain is not None and error.outcome is Outcome.NOT_PROCESSED:
                        # An earlier attempt may have taken effect.
                        raise uncertain from error
                    raise
                self._log_retry(ctx, error, delay)
            self._sleep(delay)
            retry += 1

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
        reservation = breaker.before_call_reserving(limiter)
        try:
            if reservation is None:
                limiter.acquire()
            else:
                limiter.honour(reservation)
            if ctx.prewrite:
                self._open_row(ctx)
            with limiter.concurrency_slot():
                try:
                    yield
                except Exception as exc:
                    error = as_provider_error(exc, exception_map)
                    if error is exc:
                        raise
                    raise error from exc
        except ProviderError as error:
            # Our own refusals (rate limited) are reported too: the breaker
            # ignores them for counting but frees a half-open probe they hold.
            breaker.record_failure(
                error, http_status=error.http_status, retry_after=error.retry_after
            )
            raise
        breaker.record_success()

    def _guards(self) -> tuple["CircuitBreaker", "RateLimiter"]:
        """The account's breaker and limiter, built once per account row and
        settings (both hold configuration only; their state is in the cache).
        ``client_for`` swaps in the freshest row, which rebuilds them."""
        account = self.account
        state = (account.breaker_mode, account.slug, _settings_generation)
        cached = self._guard_cache
        if (
            cached is None
            or cached[0] is not account
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
        if retry + 1 >= self.config.max_attempts or not _may_retry(ctx, error):
            return None
        if error.retry_after is not None:
            if error.retry_after > self.config.retry_after_cap_seconds:
                return None
            delay = error.retry_after
        else:
            bound = self.config.backoff_base_seconds * 2**retry
            delay = self._jitter(0, min(self.config.backoff_cap_seconds, bound))
        if self._clock() + delay >= ctx.deadline:
            return None
        return delay

    # --- Call log, metrics, logs ------------------------------------------------

    def _open_row(self, ctx: CallContext) -> None:
        # Written before the first request leaves, so the key is on record
        # even if this process dies mid-call. Outside any transaction of ours:
        # inside a caller's atomic block it commits with the caller.
        if ctx.call_id is not None:
            return
        ctx.call_id = ProviderCall.objects.create(
            account=self.account,
            operation=ctx.operation,
            outcome=CallOutcome.IN_PROGRESS,
            correlation_id=ctx.correlation_id,
            idempotency_key=ctx.idempotency_key,
            started_at=ctx.started_at,
        ).pk

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
        self._write_row(ctx, values)
        metrics.record_call(
            account_slug=self.account.slug,
            operation=ctx.operation,
            outcome=outcome.value,
            duration_seconds=duration,
            attempts=ctx.attempts,
            error_code=values["error_code"],
        )
        self._log_finish(ctx, values)

    def _write_row(self, ctx: CallContext, values: dict[str, Any]) -> None:
        try:
            using = router.db_for_write(ProviderCall)
            if not _write_relaxed(using, self.account.pk, ctx, values):
                self._store_result(ctx, values, using)
        except DatabaseError:
            # The provider call itself is done: losing its log line is better
            # than hiding a charge that happened behind a database error.
            logger.exception(
                "provider call log write failed",
                extra={"account": self.account.slug, "operation": ctx.operation},
            )

    def _store_result(
        self, ctx: CallContext, values: dict[str, Any], using: str
    ) -> None:
        if ctx.call_id is not None:
            ProviderCall.objects.using(using).filter(pk=ctx.call_id).update(**values)
            return
        # Nothing pre-written (a GET, or nothing was sent): one INSERT,
        # without save()'s machinery (no signals, no RETURNING).
        row = ProviderCall(
            account=self.account,
            operation=ctx.operation,
            correlation_id=ctx.correlation_id,
            idempotency_key=ctx.idempotency_key,
            started_at=ctx.started_at,
            **values,
        )
        ProviderCall._base_manager._insert([row], fields=_insert_fields(), using=using)

    def _log_finish(self, ctx: CallContext, values: dict[str, Any]) -> None:
        success = values["outcome"] == CallOutcome.SUCCESS
        logger.log(
            logging.INFO if success else logging.WARNING,
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


# A FROM item that sets ``synchronous_commit = off`` for the transaction of
# the statement it is part of (``set_config(..., is_local => true)`` is SET
# LOCAL as a function). In autocommit that transaction is the statement itself.
RELAXED_FROM = "(SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"


def _write_relaxed(
    using: str, account_pk: int, ctx: CallContext, values: dict[str, Any]
) -> bool:
    """Write the finished call's row in one statement that commits without
    waiting for the disk, by default behind the call (``call_log``); False
    (nothing written) where that cannot be done.

    The row is telemetry: the idempotency key that must survive a crash was
    written (synchronously) before the first attempt, and domain records
    (payment attempts, ...) live in their own durable transactions. On
    PostgreSQL, in autocommit, the INSERT or UPDATE carries ``RELAXED_FROM``:
    one round trip, no WAL flush (~1 ms saved) at the risk of losing the last
    few log rows in a database crash, never of corruption, and the setting
    ends with that statement (the connection's later commits stay durable).
    Inside a caller's transaction nothing is relaxed (the caller's commit
    would be too): the ORM writes the row as part of that transaction.
    """
    conn = connections[using]
    if conn.vendor != "postgresql" or conn.in_atomic_block:
        return False
    # A thread that never connected (a fan-out worker) is in autocommit unless
    # the settings say otherwise: asking the connection would open one.
    if conn.connection is None and not conn.settings_dict["AUTOCOMMIT"]:
        return False
    if conn.connection is not None and not conn.get_autocommit():
        return False
    # The values are ints, strs, None and aware datetimes, which the driver
    # takes as they are (what get_db_prep_save would hand it, minus its cost).
    if ctx.call_id is None:
        row = {
            "account_id": account_pk,
            "operation": ctx.operation,
            "correlation_id": ctx.correlation_id,
            "idempotency_key": ctx.idempotency_key,
            "started_at": ctx.started_at,
            **values,
        }
        names, sql = _relaxed_sql(using, "insert")
        params = [row[name] for name in names]
        copy = _relaxed_sql(using, "copy")[1]
    else:
        names, sql = _relaxed_sql(using, "update")
        params = [values[name] for name in names]
        params.append(ctx.call_id)
        copy = None
    if call_log.writer.inline():
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
    else:
        # Written behind the call; new rows by COPY, in the same column order.
        call_log.writer.add(call_log.Statement(using, sql, params, copy))
    return True


@functools.cache
def _relaxed_sql(using: str, kind: str) -> tuple[list[str], str]:
    """The field attnames (in parameter order) and SQL of a relaxed INSERT or
    UPDATE of ``ProviderCall`` (``kind``), or the COPY that adds the INSERT's
    rows in bulk; the UPDATE's last parameter is the pk."""
    quote = connections[using].ops.quote_name
    meta = ProviderCall._meta
    table = quote(meta.db_table)
    if kind in ("insert", "copy"):
        fields = _insert_fields()
        columns = ", ".join(quote(f.column) for f in fields)
        if kind == "copy":
            return [f.attname for f in fields], f"COPY {table} ({columns}) FROM STDIN"
        marks = ", ".join(["%s"] * len(fields))
        # Identifiers from the model, quoted; values are parameters.
        sql = f"INSERT INTO {table} ({columns}) SELECT {marks} FROM {RELAXED_FROM}"  # noqa: S608
        return [f.attname for f in fields], sql
    fields = [meta.get_field(name) for name in _FINISH_FIELDS]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    pk = quote(meta.pk.column)
    sql = (
        f"UPDATE {table} SET {assignments} FROM {RELAXED_FROM} "  # noqa: S608
        f"WHERE {table}.{pk} = %s"
    )
    return [f.attname for f in fields], sql


# What ``_finish`` writes onto a pre-written row.
_FINISH_FIELDS = (
    "outcome",
    "http_status",
    "attempts",
    "duration_ms",
    "error_code",
    "finished_at",
)


@functools.cache
def _insert_fields() -> list[Any]:
    return [f for f in ProviderCall._meta.local_concrete_fields if not f.primary_key]


# Bumped when a test overrides settings: cached breakers and limiters hold
# configuration derived from them.
_settings_generation = 0


@receiver(setting_changed)
def _on_setting_changed(**kwargs: Any) -> None:
    global _settings_generation
    _settings_generation += 1


def _may_retry(ctx: CallContext, error: ProviderError) -> bool:
    if error.outcome is Outcome.REJECTED:
        return False
    if error.code in NEVER_RETRY_CODES or isinstance(error, ConfigurationError):
        return False
    if error.outcome is Outcome.UNKNOWN:
        return ctx.idempotent
    return True


# --- One client per account per process ---------------------------------------------

_clients: dict[int, ProviderClient] = {}
_clients_lock = threading.Lock()


def client_for(account: "ProviderAccount") -> ProviderClient:
    """The process's client for ``account`` (its session and connection pool
    are reused). Rebuilt when the account's client settings change."""
    # The config is derived from the row's settings and the Django settings:
    # only rebuilt (a dozen setting reads) when either changed.
    source = (_settings_generation, account.settings)
    with _clients_lock:
        client = _clients.get(account.pk)
        if client is not None and client._config_source == source:
            # The freshest row, so breaker and limiter see the admin's changes.
            client.account = account
            return client
    config = ClientConfig.for_account(account)
    with _clients_lock:
        client = _clients.get(account.pk)
        if client is None or client.config != config:
            if client is not None:
                client.close()
            client = _clients[account.pk] = ProviderClient(account, config=config)
        else:
            client.account = account
        # A copy: an edit made in place to the row's dict must not go unseen.
        client._config_source = (source[0], copy.deepcopy(account.settings))
        return client
