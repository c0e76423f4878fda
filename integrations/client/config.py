"""Timeouts and retry settings of one account's client, read through the one
per-account number lookup (``integrations.limits``)."""

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from integrations.client.redirects import SAME_ORIGIN, adapter_rule
from integrations.limits import adapter_class, limit_values

if TYPE_CHECKING:
    from integrations.models import ProviderAccount


@dataclass(frozen=True)
class ClientConfig:
    connect_timeout: float
    read_timeout: float
    deadline_seconds: float
    max_attempts: int
    backoff_base_seconds: float
    backoff_cap_seconds: float
    retry_after_cap_seconds: float
    max_throttled_attempts: int
    # Not a number setting: the adapter's rule (``integrations.client.redirects``).
    redirects: str = SAME_ORIGIN

    @classmethod
    def for_account(cls, account: "ProviderAccount") -> "ClientConfig":
        """The account's setting, else its adapter's default, else the
        ``PROVIDER_*`` Django setting, for every number; the adapter's
        redirect rule."""
        names = [f.name for f in fields(cls) if f.name != "redirects"]
        rule = adapter_rule(adapter_class(account))
        return cls(**limit_values(account, names), redirects=rule)


# Bumped when a test overrides settings: cached clients, breakers and
# limiters hold configuration derived from them.
_generation = 0


def settings_generation() -> int:
    return _generation


@receiver(setting_changed)
def _on_setting_changed(**kwargs: Any) -> None:
    global _generation
    _generation += 1
