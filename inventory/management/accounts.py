"""The inventory account a command's ``--account`` names, or its refusal in
one line (a CommandError: non-zero exit, nothing else printed)."""

from django.core.management.base import CommandError

from integrations.models import ProviderAccount


def named_inventory_account(slug: str) -> ProviderAccount:
    """The enabled inventory account ``slug``. A slug of another kind's
    account is a mix-up, not a typo: said so; a disabled one is refused, as
    the schedule and "Sync now" refuse it (staff disabled it for a reason)."""
    account = ProviderAccount.objects.filter(slug=slug, kind="inventory").first()
    if account is None:
        other = ProviderAccount.objects.filter(slug=slug).first()
        if other is not None:
            raise CommandError(
                f"Account {slug!r} is a {other.kind} account, not an inventory one."
            )
        raise CommandError(f"No inventory account {slug!r}.")
    if not account.enabled:
        raise CommandError(f"Inventory account {slug!r} is disabled; enable it first.")
    return account
