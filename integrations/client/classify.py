"""Error classification for provider calls: an HTTP response or a transport
exception becomes ``NotProcessed`` / ``Unknown`` / ``Rejected``. The mapping
tables are in docs/transport.md."""

import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from integrations.crypto import CredentialsDecryptError, credentials_unreadable
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    Outcome,
    ProviderError,
    Rejected,
    Unknown,
)

# The package's logger: log routing and alerts key on "integrations.client".
logger = logging.getLogger(__package__)

Clock = Callable[[], float]
ErrorMap = Callable[[requests.Response], ProviderError | None]
ExceptionMap = Callable[[Exception], ProviderError | None]

STATUS_CODES: Mapping[int, tuple[type[ProviderError], str]] = {
    400: (Rejected, "bad_request"),
    401: (NotProcessed, "authentication_failed"),
    402: (Rejected, "payment_required"),
    403: (NotProcessed, "permission_denied"),
    404: (Rejected, "not_found"),
    # The server gave up before it had the whole request (RFC 9110 15.5.9).
    408: (NotProcessed, "request_timeout"),
    409: (Rejected, "idempotency_conflict"),
    410: (Rejected, "gone"),
    422: (Rejected, "unprocessable"),
    429: (NotProcessed, "too_many_requests"),
}


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or
    HTTP-date, relative to ``now`` as a Unix time); None if absent/invalid.

    Clamped to ``[0, retry_after_ceiling()]``: an absurd wait ("inf", "1e12",
    a date in the year 9999) would overflow a datetime or park bulk work for
    centuries in whichever consumer gets it."""
    seconds = _retry_after_seconds(value, now)
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(0.0, seconds), retry_after_ceiling())


def retry_after_ceiling() -> float:
    """The longest wait a provider's ``Retry-After`` is believed for, in
    seconds (``BREAKER_MAX_RETRY_AFTER_SECONDS``, also the breaker's hold)."""
    return float(settings.BREAKER_MAX_RETRY_AFTER_SECONDS)


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now


def server_now(response: requests.Response, wall_clock: Clock) -> float:
    """The server's clock from its ``Date`` header, else ours: an HTTP-date
    Retry-After is measured against it, so clock skew does not matter."""
    date = response.headers.get("Date")
    if date:
        try:
            return parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass  # a year no clock holds is no date either
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
        now=server_now(response, wall_clock),
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


def is_throttle(error: ProviderError) -> bool:
    """The provider is rate-limiting us (a 429 that processed nothing): a
    paced call waits it out instead of failing over."""
    return error.http_status == 429 and error.outcome is Outcome.NOT_PROCESSED


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
        return classify_connection_error(exc)
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


def classify_connection_error(exc: requests.ConnectionError) -> ProviderError:
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
    if isinstance(reason, ReadTimeoutError):
        # requests reports a body read that timed out (or outlasted the
        # deadline) as a ConnectionError.
        return Unknown("provider did not answer in time", code="read_timeout")
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
    if isinstance(exc.__cause__, ProviderError):
        # Our session refused under an SDK (a redirect off the origin), which
        # wrapped the refusal in its own connection error: ours is the truth.
        return exc.__cause__
    if exception_map is not None:
        mapped = exception_map(exc)
        if mapped is not None:
            return mapped
    if isinstance(exc, requests.RequestException):
        return classify_exception(exc)
    if isinstance(exc, CredentialsDecryptError):
        return credentials_unreadable(exc)  # read before the request is built
    # A bug in an adapter or SDK: keep the traceback (type and frames only
    # reach the JSON log's ``exc`` field, never the ProviderCall row).
    logger.error("unexpected error during a provider call", exc_info=exc)
    return Unknown("unexpected error during a provider call", code="unexpected_error")
