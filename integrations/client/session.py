"""The client's ``requests.Session`` and the transport adapter mounted on it:
the operation in flight (``CallContext``), its correlation id, attempt count,
deadline-clamped timeouts and the deadline on the whole response, for
``request()`` and SDKs alike."""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.utils import timezone
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies
from urllib3.connectionpool import HTTPConnectionPool

from integrations import correlation
from integrations.client.classify import Clock
from integrations.client.config import ClientConfig
from integrations.client.redirects import (
    SAME_ORIGIN,
    redirect_error,
    refuses_off_origin,
)
from integrations.client.response_deadline import deadline_pools, response_deadline

# Timeouts must stay positive or the socket turns non-blocking.
MIN_TIMEOUT = 0.001


_key_on_record: ContextVar[bool] = ContextVar("key_on_record", default=False)


@contextmanager
def key_on_record() -> Iterator[None]:
    """Calls in the block carry a key the caller has already made durable (a
    keyed attempt row): their call-log row is written behind the call only,
    saving a commit before it."""
    token = _key_on_record.set(True)
    try:
        yield
    finally:
        _key_on_record.reset(token)


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
    # Write the row before the first attempt. Skipped for requests that carry
    # no idempotency key (GETs: nothing for reconciliation to look up) and
    # where the caller already committed the key (``key_on_record``).
    prewrite: bool = field(default_factory=lambda: not _key_on_record.get())
    started_at: Any = field(default_factory=timezone.now)
    # Bulk work: wait for the rate limit (ours and the provider's 429) until
    # ``pace_deadline`` instead of failing over; ``weight`` tokens per attempt.
    pacing: bool = False
    weight: float = 1
    pace_deadline: float = 0.0

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def pace_left(self) -> float:
        return self.pace_deadline - self.clock()

    def waited(self, seconds: float) -> None:
        """Time spent paced does not count against the operation's deadline."""
        self.deadline += seconds


active_call: ContextVar[CallContext | None] = ContextVar("provider_call", default=None)

# Operations begun in a ``calls_counted`` block; see there.
_calls_begun: ContextVar[list[int] | None] = ContextVar("calls_begun", default=None)


@contextmanager
def calls_counted() -> Iterator[list[int]]:
    """Counts the operations begun in the block (``[n]``), so a caller can
    tell an error of its own reading from one about a provider's answer
    (webhooks' ``payload_read``)."""
    begun = [0]
    token = _calls_begun.set(begun)
    try:
        yield begun
    finally:
        _calls_begun.reset(token)


def call_begun() -> None:
    begun = _calls_begun.get()
    if begun is not None:
        begun[0] += 1


# What a redirect to another origin may still carry: nothing that names us.
_PLAIN_HEADERS = frozenset(
    ("accept", "accept-encoding", "content-type", "content-length", "user-agent")
)


class ProviderSession(requests.Session):
    """A ``requests.Session`` that reads proxy settings from the environment
    once per origin (scheme, host:port, ``no_proxy``) instead of on every
    request, with the very function requests uses (docs/transport.md); and
    applies the account's redirect rule (``integrations.client.redirects``)."""

    _MAX_ORIGINS = 256

    def __init__(self, redirects: str = SAME_ORIGIN) -> None:
        super().__init__()
        self.redirects = redirects
        self._env_proxies: dict[tuple[str, str, str | None], dict[str, str]] = {}
        self._env_verify: str | None = os.environ.get(
            "REQUESTS_CA_BUNDLE"
        ) or os.environ.get("CURL_CA_BUNDLE")

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        # requests drops only Authorization when a redirect leaves the origin;
        # providers carry secrets in headers of their own (Postmark's token,
        # an API key header): past the origin only the plain headers go.
        super().rebuild_auth(prepared_request, response)
        if self.should_strip_auth(response.request.url, prepared_request.url):
            if refuses_off_origin(self.redirects):
                # Before anything is sent there: not even the plain headers.
                raise redirect_error(response, prepared_request.url)
            for name in list(prepared_request.headers):
                if name.lower() not in _PLAIN_HEADERS:
                    del prepared_request.headers[name]

    def resolve_redirects(
        self, resp: Any, req: Any, *args: Any, yield_requests: bool = False, **kw: Any
    ) -> Any:
        if yield_requests and refuses_off_origin(self.redirects):
            # requests only peeks at the next hop of a redirect it does not
            # follow (allow_redirects=False): nothing goes there to refuse.
            return iter(())
        return super().resolve_redirects(
            resp, req, *args, yield_requests=yield_requests, **kw
        )

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
            "proxies": merge_proxies(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


def merge_proxies(given: Any, session_proxies: Any) -> Any:
    """``merge_setting`` for proxies, without its generic (and, in requests
    2.34, slow: runtime protocol checks) merge when the session has none."""
    if given is None or session_proxies:
        return merge_setting(given, session_proxies)
    return {name: url for name, url in given.items() if url is not None}


class ProviderTransport(HTTPAdapter):
    """Mounted on the client's session, so a request from ``request()`` or an
    SDK is counted, carries the correlation id and respects the deadline: each
    read's timeout is clamped to it, and the whole response (status line,
    headers, body, even one streamed after ``send``) must arrive by then."""

    # The pool classes to connect with (under the deadline); None: urllib3's.
    pool_classes: Mapping[str, type[HTTPConnectionPool]] | None = None

    def __init__(self, config: ClientConfig, **kwargs: Any) -> None:
        # Not ``config``: HTTPAdapter already uses that name.
        self.client_config = config
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        manager = self.poolmanager
        given = self.pool_classes or manager.pool_classes_by_scheme
        manager.pool_classes_by_scheme = deadline_pools(given)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = deadline_pools(manager.pool_classes_by_scheme)
        return manager

    def send(
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        ctx = active_call.get()
        if ctx is not None:
            correlation_id = ctx.correlation_id
        else:
            correlation_id = correlation.get() or correlation.new_id()
        request.headers.setdefault(correlation.HEADER, correlation_id)
        kwargs["timeout"] = self._timeout(kwargs.get("timeout"), ctx)
        if ctx is not None:
            ctx.attempts += 1
        budget = self.client_config.deadline_seconds if ctx is None else ctx.remaining()
        with response_deadline(max(budget, MIN_TIMEOUT)):
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
        return max(connect, MIN_TIMEOUT), max(read, MIN_TIMEOUT)
