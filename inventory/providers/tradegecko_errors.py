"""TradeGecko's error answers as our errors: its 429 waits for
``X-Rate-Limit-Reset``, 402 is a lapsed subscription, 4xx refusals name the
fields refused. docs/providers/inventory.md."""

import time
from collections.abc import Mapping

import requests

from integrations.client import classify_response, parse_retry_after, server_now
from integrations.errors import NotProcessed, ProviderError, Rejected

_REJECTIONS: Mapping[int, str] = {
    400: "invalid_request",
    404: "not_found",
    414: "invalid_request",
    422: "invalid_request",
}


def tradegecko_error_map(response: requests.Response) -> ProviderError | None:
    """429 waits for ``X-Rate-Limit-Reset`` (TradeGecko sends no
    Retry-After); 402 is a lapsed subscription (nothing was done); 422's
    ``errors`` name the fields it refused."""
    status = response.status_code
    if status == 429:
        return NotProcessed(
            "TradeGecko rate limit reached",
            code="too_many_requests",
            http_status=429,
            retry_after=_retry_after(response),
        )
    if status == 402:
        return NotProcessed(
            "TradeGecko subscription has lapsed",
            code="subscription_lapsed",
            http_status=402,
        )
    code = _REJECTIONS.get(status)
    if code is None:
        return None
    return Rejected(
        f"TradeGecko refused the request: {_error_fields(response)}"[:500],
        code=code,
        http_status=status,
    )


def _retry_after(response: requests.Response) -> float:
    default = classify_response(response)
    if default is not None and default.retry_after:
        return default.retry_after
    # The reset is TradeGecko's epoch second: measured against its Date
    # header, so our clock's skew does not shorten or stretch the wait.
    now = server_now(response, time.time)
    try:
        delta = repr(float(response.headers.get("X-Rate-Limit-Reset", "")) - now)
    except ValueError:
        delta = None
    # The shared parser bounds it (inf, nan, far ahead, past) like any
    # Retry-After; a reset already due still waits a second, not none.
    return max(1.0, parse_retry_after(delta, now=now) or 0.0)


def _error_fields(response: requests.Response) -> str:
    try:
        errors = response.json()["errors"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
    if isinstance(errors, dict):
        return "; ".join(
            f"{field} {_reasons(why)}".rstrip() for field, why in errors.items()
        )
    return str(errors)


def _reasons(why: object) -> str:
    # Documented as a list of reasons; a lone string, number or null is one
    # reason (or none), not characters to join or a crash in the error map.
    if isinstance(why, list):
        return ", ".join(map(str, why))
    return "" if why is None else str(why)
