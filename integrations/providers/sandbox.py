"""Behaviour shared by every kind's sandbox provider: an account-level outage
switch, injected latency and an injected error rate, and an API key that must
look like a sandbox key, so misconfiguration fails the way a real provider's
would."""

import random
import time
from typing import ClassVar

from integrations.errors import ConfigurationError, NotProcessed, Unknown
from integrations.providers.base import BaseAdapter, ConfigField, HealthResult

SANDBOX_KEY_PREFIX = "sbx_"


class SandboxAdapter(BaseAdapter):
    code = "sandbox"
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "api_key",
            "API key",
            help_text=f"Any value starting with {SANDBOX_KEY_PREFIX!r}.",
        ),
        ConfigField(
            "webhook_secret",
            "Webhook signing secret",
            required=False,
            help_text="Signs the sandbox's webhooks (Standard Webhooks scheme).",
        ),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "latency_ms",
            "Added latency (ms)",
            type="int",
            required=False,
            default=0,
            min_value=0,
            max_value=60_000,
        ),
        ConfigField(
            "error_rate",
            "Injected error rate (0-1)",
            type="float",
            required=False,
            default=0.0,
            min_value=0,
            max_value=1,
            help_text="Share of calls that fail as 'provider unavailable'.",
        ),
        ConfigField(
            "outage",
            "Simulate an outage",
            type="bool",
            required=False,
            default=False,
            help_text="Every call fails as if the provider refused connections.",
        ),
    )

    def simulate_call(self) -> None:
        """Apply the account's injected behaviour before doing the real work."""
        api_key = self.credentials.get("api_key", "")
        if not api_key:
            raise ConfigurationError("sandbox API key is not set", code="missing_credentials")
        if not api_key.startswith(SANDBOX_KEY_PREFIX):
            raise NotProcessed(
                "sandbox rejected the API key", code="authentication_failed",
                http_status=401,
            )
        if self.setting("outage"):
            raise NotProcessed("sandbox outage (simulated)", code="connection_refused")
        latency = int(self.setting("latency_ms") or 0)
        if latency:
            time.sleep(latency / 1000)
        if random.random() < float(self.setting("error_rate") or 0):
            raise Unknown(
                "sandbox error (simulated)", code="server_error", http_status=500
            )

    def health_check(self) -> HealthResult:
        self.simulate_call()
        return HealthResult(ok=True, detail="sandbox reachable")
