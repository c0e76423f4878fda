"""Which answers count against a provider account's health: the breaker's
verdict on one call's error and HTTP status (``classify``), apart from the
state machine that acts on it (``machine``)."""

from typing import TYPE_CHECKING

from integrations.errors import ConfigurationError, Outcome

if TYPE_CHECKING:
    from integrations.errors import ProviderError

# Refusals of our own: nothing reached the provider, so they say nothing about
# its health. "paced": a bulk call the account throttled, which we wait out.
LOCAL_CODES = frozenset(
    {"breaker_open", "rate_limited", "concurrency_limited", "paced"}
)
# Without an error object these statuses mean "not processed" or "unknown".
_FAILING_STATUSES = frozenset({401, 403, 408, 429})


def status_of(error: "ProviderError | None") -> int | None:
    return getattr(error, "http_status", None)


def classify(error: "ProviderError | None", status: int | None) -> bool | None:
    """True: counts as a failure. False: the provider answered (healthy).
    None: never reached the provider, or a paced throttle (ignored)."""
    if error is not None and (
        isinstance(error, ConfigurationError) or error.code in LOCAL_CODES
    ):
        return None
    if status is not None and status >= 500:
        return True
    if error is None:
        return status is None or status in _FAILING_STATUSES
    return error.outcome in (Outcome.NOT_PROCESSED, Outcome.UNKNOWN)
