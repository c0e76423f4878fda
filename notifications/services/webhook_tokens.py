"""Signed webhooks' one-time tokens (Mailgun's signature covers timestamp and
token, not the body): each kept per account with a digest of the first body
it came with, in the database, so the replay check works while Redis is
down; purged by the database's clock once the time check refuses them."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.utils import timezone

from integrations import registry
from integrations.clock import database_now
from integrations.db import execute_one
from integrations.models import ProviderAccount
from notifications.models import WebhookToken

logger = logging.getLogger(__name__)

# Kept this long past the tolerance: the purge runs by the database's clock,
# the one the claim's own time check reads, so a minute is slack enough.
KEEP_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class TokenClaim:
    """What the store says of a token: whether it came with this body first
    (or is this body again), and the database's time of the claim."""

    same_body: bool
    now: datetime


def webhook_token_claim(
    *, account: ProviderAccount, token: str, body: bytes, signed_at: datetime
) -> TokenClaim:
    """Keep ``token`` for ``account`` bound to ``body``, unless it is kept
    already: then whether it was kept with this same body. One statement,
    safe to send twice; concurrent claims of one token wait for each other
    on its unique key. A database error propagates."""
    using = router.db_for_write(WebhookToken)
    conn = connections[using]
    digest = hashlib.sha256(body).hexdigest()
    row = execute_one(
        _claim_sql(conn),
        [
            account.pk,
            hashlib.sha256(token.encode()).hexdigest(),
            digest,
            conn.ops.adapt_datetimefield_value(signed_at),
        ],
        using=using,
        resend=True,
        conn=conn,
    )
    if row is None:  # the statement always returns the kept row
        raise WebhookToken.DoesNotExist(account.pk)
    now = row[1] if conn.vendor == "postgresql" else timezone.now()
    return TokenClaim(same_body=row[0] == digest, now=now)


def _claim_sql(conn: Any) -> str:
    quote = conn.ops.quote_name
    meta = WebhookToken._meta
    table = quote(meta.db_table)
    account = quote(meta.get_field("account").column)
    columns = ", ".join(
        [account, *(quote(n) for n in ("token_digest", "body_digest", "signed_at"))]
    )
    # The no-op update makes a kept token return its row (DO NOTHING returns
    # none); the database's time comes back with it for the time check.
    clock = "statement_timestamp()" if conn.vendor == "postgresql" else "NULL"
    return (
        f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s)"  # noqa: S608
        f" ON CONFLICT ({account}, {quote('token_digest')}) DO UPDATE"
        f" SET {quote('body_digest')} = {table}.{quote('body_digest')}"
        f" RETURNING {quote('body_digest')}, {clock}"
    )


def signed_time(timestamp: float) -> datetime | None:
    """A signed Unix time as a datetime; None if no datetime can hold it."""
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def webhook_tokens_purge() -> int:
    """Delete the tokens whose signed time is more than their account's
    webhook tolerance (now, by the database's clock) in the past: the time
    check refuses them anyway. An account whose adapter cannot be loaded
    keeps its tokens (its tolerance is unknown). The count deleted."""
    deleted = 0
    account_ids = WebhookToken.objects.values_list("account_id", flat=True)
    for account in ProviderAccount.objects.filter(pk__in=account_ids.distinct()):
        tolerance = _tolerance(account)
        if tolerance is None:
            continue
        cutoff = database_now() - timedelta(seconds=tolerance + KEEP_MARGIN_SECONDS)
        count, _ = WebhookToken.objects.filter(
            account=account, signed_at__lt=cutoff
        ).delete()
        deleted += count
    return deleted


def _tolerance(account: ProviderAccount) -> float | None:
    try:
        adapter = registry.get_adapter(account)
    except registry.ACCOUNT_UNCALLABLE:
        logger.warning(
            "webhook tokens kept: the account's adapter cannot be loaded",
            extra={"account": account.slug},
        )
        return None
    tolerance = getattr(adapter, "webhook_tolerance", None)
    # A provider that keeps no tokens (the account was changed): the default.
    return settings.WEBHOOK_TOLERANCE_SECONDS if tolerance is None else tolerance()
