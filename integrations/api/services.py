"""State changes for the API platform: API keys and idempotency records."""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from integrations.api.scopes import SCOPES
from integrations.clock import database_now
from integrations.models import ApiKey, IdempotencyRecord

logger = logging.getLogger(__name__)


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    cleaned = sorted({s.strip() for s in scopes if s and s.strip()})
    unknown = [s for s in cleaned if s not in SCOPES]
    if unknown:
        raise ValidationError(
            "Unknown scope(s): %(unknown)s. Known scopes: %(known)s.",
            code="unknown_scope",
            params={"unknown": ", ".join(unknown), "known": ", ".join(SCOPES)},
        )
    if not cleaned:
        # A key that can call nothing is always a mistake.
        raise ValidationError("Give the key at least one scope.", code="no_scope")
    return cleaned


def api_key_create(*, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """Create a key and return it with the full secret, the only time it exists.

    Raises ``ValidationError`` for an empty name or an unknown scope.
    """
    name = name.strip()
    if not name:
        raise ValidationError("The key needs a name.", code="no_name")
    max_length = ApiKey._meta.get_field("name").max_length
    if len(name) > max_length:
        raise ValidationError(
            "The name is longer than %(max)s characters.",
            code="name_too_long",
            params={"max": max_length},
        )
    cleaned = _clean_scopes(scopes)
    full_key, prefix, key_hash = ApiKey.generate()
    api_key = ApiKey.objects.create(
        name=name, prefix=prefix, key_hash=key_hash, scopes=cleaned
    )
    logger.info(
        "api key created",
        extra={"key_prefix": prefix, "key_name": name, "scopes": cleaned},
    )
    return api_key, full_key


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Revoke a key; return False if it was already revoked (nothing changes)."""
    now = timezone.now()
    # Conditional update: the first revocation time is the one that counts.
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=now
    )
    api_key.refresh_from_db(fields=["revoked_at"])
    if updated:
        logger.info("api key revoked", extra={"key_prefix": api_key.prefix})
    return bool(updated)


def api_key_set_scopes(*, api_key: ApiKey, scopes: Iterable[str]) -> ApiKey:
    api_key.scopes = _clean_scopes(scopes)
    api_key.save(update_fields=["scopes"])
    return api_key


def idempotency_records_prune(*, now: datetime | None = None) -> int:
    """Delete records older than ``IDEMPOTENCY_KEY_TTL_HOURS``; return how many."""
    # The database's time, as a record's created_at and the claim's expiry
    # (idempotency._is_stale) are: a pruner ahead deleted replays still due.
    now = now or database_now()
    cutoff = now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    with transaction.atomic():
        deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    logger.info("idempotency records pruned", extra={"deleted": deleted})
    return deleted
