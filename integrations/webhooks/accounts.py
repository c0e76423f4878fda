"""The intake's account lookup, cached in-process for a few seconds.

Every webhook names its account by slug. Reading that row (and decrypting its
credentials) on every request costs a database round trip that a busy intake
does not need: accounts change rarely. So each process keeps the accounts it
has seen for ``WEBHOOK_ACCOUNT_CACHE_SECONDS``:

- an account saved or deleted in this process (the admin) drops the whole
  cache at once; other processes see the change within the TTL;
- a cached account whose verification fails on the secret is read again, and
  if the row changed the request is verified once more with the new one, so a
  rotated secret works everywhere at once for correctly signed requests;
- only committed state is cached: inside a transaction (ATOMIC_REQUESTS, the
  test suite) the row is always read, since it may be rolled back;
- unknown and disabled slugs are never cached, so a scanner cannot grow it.

A disabled account may therefore accept webhooks for up to the TTL in other
processes; they are stored and processed as before it was disabled.
"""

import time
from functools import cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_migrate, post_save
from django.dispatch import receiver

from integrations.models import ProviderAccount

# slug -> (monotonic expiry, account with memoised credentials)
_cache: dict[str, tuple[float, ProviderAccount]] = {}


def clear() -> None:
    _cache.clear()


@receiver(post_migrate, dispatch_uid="webhook_accounts_migrate")  # also on flush
@receiver(post_save, sender=ProviderAccount, dispatch_uid="webhook_accounts_save")
@receiver(post_delete, sender=ProviderAccount, dispatch_uid="webhook_accounts_delete")
def _account_changed(**kwargs: Any) -> None:
    # All of it: a renamed slug leaves its old key behind.
    clear()


def _ttl() -> float:
    return float(getattr(settings, "WEBHOOK_ACCOUNT_CACHE_SECONDS", 0) or 0)


def _cacheable() -> bool:
    return _ttl() > 0 and not transaction.get_connection().in_atomic_block


def _load(slug: str) -> ProviderAccount | None:
    try:
        account = ProviderAccount.objects.get(slug=slug, enabled=True)
    except ProviderAccount.DoesNotExist:
        return None
    _memoise_credentials(account)
    return account


def _memoise_credentials(account: ProviderAccount) -> None:
    """Decrypt the credentials once per loaded row, not once per request.

    Each call still returns a fresh dict, so a caller that changes it cannot
    change what the next request sees.
    """
    decrypt = cache(account.get_credentials)
    account.get_credentials = lambda: dict(decrypt())  # type: ignore[method-assign]


def get(slug: str) -> tuple[ProviderAccount | None, bool]:
    """``(account, from_cache)``: the enabled account with this slug, or None."""
    if not _cacheable():
        return _load(slug), False
    hit = _cache.get(slug)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1], True
    account = _load(slug)
    if account is None:
        _cache.pop(slug, None)
    else:
        _cache[slug] = (now + _ttl(), account)
    return account, False


def _same_row(a: ProviderAccount, b: ProviderAccount) -> bool:
    fields = ("updated_at", "credentials_encrypted", "kind", "provider", "settings")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def refresh(stale: ProviderAccount) -> tuple[ProviderAccount | None, bool]:
    """Read the row again after a cached account failed verification.

    Returns ``(account, changed)``: the current enabled account (None once it
    is disabled or gone) and whether it differs from the stale one, i.e.
    whether verifying again could give another answer.
    """
    account = _load(stale.slug)
    if account is None:
        _cache.pop(stale.slug, None)
        return None, True
    if _cacheable():
        _cache[stale.slug] = (time.monotonic() + _ttl(), account)
    return account, not _same_row(account, stale)
