"""Provider errors. Each carries an *outcome*, because the outcome decides what
may happen next:

===============  ===========================================  ======================
outcome          raised for                                   what may happen next
===============  ===========================================  ======================
not_processed    connect refused / connect timeout, DNS or    retry, or fail over to
                 TLS failure, breaker open, rate limited      the next account
                 (ours or the provider's 429), 401, 403
unknown          read timeout, connection reset after the     never fail over; record
                 request was sent, 5xx on a call the          ``unknown`` and let
                 provider does not replay by idempotency key  reconciliation decide
rejected         4xx validation error, business refusal       no retry, no failover;
                 (card declined, address invalid)             show the reason
===============  ===========================================  ======================

Messages never contain credentials or request bodies.
"""

import re
from enum import StrEnum

from integrations.secrets_registry import known_secrets, redact_secrets

# Every provider's codes are identifiers or numbers (Braintree's "2000"); a
# "code" that is not one is provider text and is not passed on.
_PUBLIC_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class Outcome(StrEnum):
    NOT_PROCESSED = "not_processed"
    UNKNOWN = "unknown"
    REJECTED = "rejected"


class ProviderError(Exception):
    outcome: Outcome = Outcome.UNKNOWN
    default_code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        provider_code: str | None = None,
        outcome: Outcome | None = None,
    ) -> None:
        # A provider's text may quote what we sent, credentials included:
        # masked with this process's copy of the known secrets (no query).
        message = redact_secrets(message)
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.http_status = http_status
        self.retry_after = retry_after
        self.provider_code = provider_code
        if outcome is not None:
            self.outcome = outcome

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} outcome={self.outcome} code={self.code} "
            f"status={self.http_status}>"
        )


class NotProcessed(ProviderError):
    outcome = Outcome.NOT_PROCESSED
    default_code = "not_processed"


class Unknown(ProviderError):
    outcome = Outcome.UNKNOWN
    default_code = "unknown"


class Rejected(ProviderError):
    outcome = Outcome.REJECTED
    default_code = "rejected"


class UnusableAmount(Unknown):
    """A provider's amount we cannot use: more decimals than its currency
    has, or beyond ``money.max_amount``. An ``unknown`` answer (the request
    may have been acted on); callers that can drop one item of a list (a
    carrier's rate) catch this type."""

    default_code = "malformed_response"


class ConfigurationError(NotProcessed):
    """The account is missing a credential or setting; nothing was sent."""

    default_code = "configuration_error"


class RedisUnreachable(NotProcessed):
    """The breaker's and rate limit's state (in Redis) could not be read
    before the call: nothing was sent. Our outage, not the provider's."""

    default_code = "store_unavailable"


class Paced(NotProcessed):
    """A paced (bulk) call could not go out within its waiting budget: the
    account is rate-limiting us, nothing was sent. Come back after
    ``retry_after``; this is not the account failing."""

    default_code = "paced"


def public_provider_code(error: Exception) -> str:
    """The provider's own code for ``error`` as a caller may be told it: a
    plain code quoting no known secret; else empty."""
    code = str(getattr(error, "provider_code", "") or "")
    if (
        not _PUBLIC_CODE.fullmatch(code)
        or redact_secrets(code, known_secrets()) != code
    ):
        return ""
    return code
