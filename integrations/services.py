"""State changes on provider accounts. Commands and the admin call these."""

import logging
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.utils.module_loading import import_string

from integrations import crypto
from integrations.events import event_emit
from integrations.models import ProviderAccount

logger = logging.getLogger(__name__)


def provider_account_get_or_create(
    *,
    slug: str,
    kind: str,
    provider: str,
    display_name: str,
    priority: int,
    credentials: dict[str, Any],
    settings: dict[str, Any] | None = None,
) -> tuple[ProviderAccount, bool]:
    """Create the account unless one with ``slug`` exists.

    An existing account is returned untouched: staff may have changed its
    priority or credentials in the admin, and the admin is the source of truth.
    """
    with transaction.atomic():
        account = ProviderAccount.objects.filter(slug=slug).first()
        if account is not None:
            return account, False
        account = ProviderAccount(
            slug=slug,
            kind=kind,
            provider=provider,
            display_name=display_name,
            priority=priority,
            settings=settings or {},
        )
        account.set_credentials(credentials)
        account.full_clean()
        account.save()
        if account.enabled:
            provider_account_enabled_announce(account=account)
    logger.info(
        "provider account created",
        extra={"account": slug, "kind": kind, "provider": provider},
    )
    return account, True


def provider_account_enabled_announce(*, account: ProviderAccount) -> None:
    """Tell subscribers ``account`` is enabled (added so, or enabled again),
    in the caller's transaction: work waiting for a usable account of its
    kind may resume (emails waiting for a paused account)."""
    event_emit(
        name="integrations.account_enabled",
        payload={"account": account.slug, "kind": account.kind},
        subject=account.slug,
        kind=account.kind,
    )


def provider_account_rotate_credentials() -> int:
    """Re-encrypt every account's credentials with the newest key.

    All rows or none: if one row cannot be decrypted with any configured key
    the whole rotation is rolled back, so an operator never drops an old key
    while some row still needs it. Returns the number of rows re-encrypted.
    """
    rotated = 0
    with transaction.atomic():
        accounts = (
            ProviderAccount.objects.select_for_update()
            .exclude(credentials_encrypted="")
            .order_by("pk")
        )
        for account in accounts:
            account.credentials_encrypted = crypto.rotate(account.credentials_encrypted)
            # update_fields keeps updated_at as is: nothing staff-visible changed.
            account.save(update_fields=["credentials_encrypted"])
            rotated += 1
    logger.info("provider credentials rotated", extra={"accounts": rotated})
    return rotated


def credentials_rotate_all() -> dict[str, int]:
    """Re-encrypt the accounts' credentials and every store named in
    ``SWITCHYARD_ENCRYPTED_ROWS`` with the newest key, all in one
    transaction: one unreadable row anywhere changes nothing. Returns the
    count per store (``"account(s)"`` first)."""
    stores: dict[str, str] = django_settings.SWITCHYARD_ENCRYPTED_ROWS
    with transaction.atomic():
        counts = {"account(s)": provider_account_rotate_credentials()}
        for label, path in stores.items():
            counts[label] = import_string(path)()
    return counts
