"""What the provider-account admin posts, for tests that save an account
there: its change form and its list's editable columns."""

from integrations.models import ProviderAccount


def account_change_data(account: ProviderAccount, **overrides: str) -> dict:
    """The change form of a sandbox ``account`` as it stands, enabled (its
    breaker mode left out unless given: the form keeps the current one)."""
    data = {
        "kind": account.kind,
        "provider": account.provider,
        "slug": account.slug,
        "display_name": account.display_name,
        "priority": str(account.priority),
        "enabled": "on",
        "mode": account.mode,
        "setting__latency_ms": "0",
        "setting__error_rate": "0",
    }
    data.update(overrides)
    return data


def account_list_enable_data(account: ProviderAccount) -> dict:
    """The account list saved with ``account``'s "enabled" box ticked."""
    return {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(account.pk),
        "form-0-priority": str(account.priority),
        "form-0-enabled": "on",
        "_save": "Save",
    }
