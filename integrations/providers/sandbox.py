"""Behaviour shared by every kind's sandbox provider: an account-level outage
switch, injected latency and an injected error rate, and an API key that must
look like a sandbox key, so misconfiguration fails the way a real provider's
would."""

import json
import random
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings

from integrations.errors import ConfigurationError, NotProcessed, Unknown
from integrations.providers.base import (
    BaseAdapter,
    ConfigField,
    HealthResult,
    WebhookMessage,
)
from integrations.webhooks.verification import (
    WebhookVerificationError,
    verify_standard_webhook,
)

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
            raise ConfigurationError(
                "sandbox API key is not set", code="missing_credentials"
            )
        if not api_key.startswith(SANDBOX_KEY_PREFIX):
            raise NotProcessed(
                "sandbox rejected the API key",
                code="authentication_failed",
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

    def verify_webhook(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> WebhookMessage:
        """Standard Webhooks, signed with the account's ``webhook_secret``; the
        body is ``{"type": ..., "timestamp": ..., "data": {...}}``."""
        verified = verify_standard_webhook(
            secret=self.credentials.get("webhook_secret"),
            body=body,
            headers=headers,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )
        payload = _json_object(body)
        event_type = payload.get("type")
        if not isinstance(event_type, str) or not event_type:
            raise WebhookVerificationError(
                "The webhook body has no 'type'.",
                code=WebhookVerificationError.MALFORMED,
                param="type",
            )
        return WebhookMessage(
            event_type=event_type[:128],
            dedupe_key=verified.webhook_id,
            payload=payload,
            occurred_at=_parse_time(payload.get("timestamp")),
        )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        raise WebhookVerificationError(
            "The webhook body must be a JSON object.",
            code=WebhookVerificationError.MALFORMED,
        )
    return payload


def _parse_time(value: object) -> datetime | None:
    # An unparseable or naive time is not worth rejecting a signed event over.
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
