"""Probe provider accounts and keep the latest result of each.

A probe calls the adapter's ``health_check()`` (a cheap authenticated call that
real adapters make through the account's ProviderClient, so it honours the
breaker, rate limit and deadline) and stores one ``HealthCheckResult`` per
account. A probe never raises: a ``ProviderError`` is an unhealthy result with
the error's code and message (those never carry secrets, by contract); any
other exception is logged with its traceback and stored as unhealthy with only
its class name, because its message is not under our control. A probe that
cannot reach Redis (the breaker and rate limits live there) checked nothing:
it stores nothing and returns None; the outage is warned once by its record
(``redis_line.outage``), each account not checked is an INFO line.
"""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from integrations import registry
from integrations.crypto import CredentialsDecryptError
from integrations.errors import ProviderError, RedisUnreachable
from integrations.models import HealthCheckResult, HealthStatus, ProviderAccount
from integrations.redis_line import outage
from integrations.secrets_registry import known_secrets, redact_secrets
from integrations.store_guard import fail_closed

logger = logging.getLogger(__name__)

TEXT_LIMIT = 500
REDACTED = "[redacted]"
# Credential values shorter than this are not scrubbed from texts: replacing
# every "1" or "on" would mangle messages and such values protect nothing.
_MIN_SECRET_LENGTH = 6


@dataclass(frozen=True)
class ProbeOutcome:
    """What one probe found, before it is stored."""

    healthy: bool
    latency_ms: int
    detail: str
    error_class: str = ""
    error_code: str = ""


def safe_text(text: str, account: ProviderAccount) -> str:
    """``text`` without any known secret (in every form the log filter
    masks) nor any of the account's credential values, shortened."""
    text = redact_secrets(text, known_secrets(fresh=True))
    try:
        secrets = [str(v) for v in account.get_credentials().values()]
    except CredentialsDecryptError:
        # Nobody, adapters included, can read them, so no text can quote them.
        secrets = []
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 1] + "…"
    return text


def account_health_probe(*, account: ProviderAccount) -> HealthCheckResult | None:
    """Probe ``account`` now and store the result as its latest; None if it
    could not be checked (Redis unreachable): the last result stands."""
    try:
        outcome = _run_health_check(account)
    except (RedisError, RedisUnreachable) as exc:
        # Our outage, not the provider's: blaming it would page for the wrong
        # thing. Its record warns once per outage; per account only INFO.
        if isinstance(exc, RedisError):
            outage.failed(exc)
        logger.info(
            "health probe not run: Redis unreachable",
            extra={"account": account.slug, "error": type(exc).__name__},
        )
        return None
    result = _store(account, outcome)
    logger.info(
        "health probe finished",
        extra={
            "account": account.slug,
            "status": result.status,
            "latency_ms": outcome.latency_ms,
            "error_code": outcome.error_code,
        },
    )
    return result


def accounts_health_probe(
    *, accounts: Iterable[ProviderAccount] | None = None
) -> list[HealthCheckResult]:
    """Probe ``accounts`` (default: every enabled account) one after another;
    the results of those that could be checked."""
    if accounts is None:
        accounts = ProviderAccount.objects.filter(enabled=True)
    results = (account_health_probe(account=account) for account in accounts)
    return [result for result in results if result is not None]


def _run_health_check(account: ProviderAccount) -> ProbeOutcome:
    started = time.monotonic()
    try:
        # Redis unreachable: not checked (the last result stands), not run
        # unguarded as a payment would be.
        with fail_closed():
            result = registry.get_adapter(account).health_check()
    except (RedisError, RedisUnreachable):
        raise  # not the provider's health: account_health_probe says so
    except ProviderError as exc:
        return ProbeOutcome(
            healthy=False,
            latency_ms=_elapsed_ms(started),
            detail=safe_text(exc.message or exc.code, account),
            error_class=type(exc).__name__,
            error_code=exc.code,
        )
    except Exception as exc:
        # Unknown provider codes, bugs in an adapter, decryption failures...
        # The message may quote anything (a URL with a key in it), so only the
        # class name leaves this function; the traceback goes to the log.
        logger.exception(
            "health probe raised an unexpected error",
            extra={"account": account.slug, "error_class": type(exc).__name__},
        )
        return ProbeOutcome(
            healthy=False,
            latency_ms=_elapsed_ms(started),
            detail=f"unexpected error ({type(exc).__name__}); see the logs",
            error_class=type(exc).__name__,
            error_code="unexpected_error",
        )
    latency_ms = _elapsed_ms(started)
    detail = safe_text(result.detail, account)
    if result.ok:
        return ProbeOutcome(healthy=True, latency_ms=latency_ms, detail=detail)
    return ProbeOutcome(
        healthy=False,
        latency_ms=latency_ms,
        detail=detail or "health check failed",
        error_code="health_check_failed",
    )


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _store(account: ProviderAccount, outcome: ProbeOutcome) -> HealthCheckResult:
    now = timezone.now()
    row = HealthCheckResult(
        account=account,
        status=HealthStatus.HEALTHY if outcome.healthy else HealthStatus.UNHEALTHY,
        latency_ms=outcome.latency_ms,
        detail=outcome.detail,
        checked_at=now,
    )
    update_fields = ["status", "latency_ms", "detail", "checked_at"]
    if not outcome.healthy:
        row.error_class = outcome.error_class
        row.error_code = outcome.error_code
        row.last_error = outcome.detail
        row.last_error_at = now
        update_fields += ["error_class", "error_code", "last_error", "last_error_at"]
    # One upsert, so two workers probing the same account at once cannot
    # collide on the one-to-one; a healthy probe leaves the last error alone.
    with transaction.atomic():
        HealthCheckResult.objects.bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["account"],
            update_fields=update_fields,
        )
    return HealthCheckResult.objects.select_related("account").get(account=account)
