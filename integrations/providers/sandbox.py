"""Behaviour shared by every kind's sandbox provider: an account-level outage
switch, injected latency and an injected error rate, an API key that must look
like a sandbox key, and signed webhooks for what the sandbox did.

Every operation runs through the account's ProviderClient (``sandbox_call``),
so the call log, breaker, limiter, dashboard and failover see a sandbox as they
see a real provider, and each injected fault surfaces as the error the client
makes of the real thing: an outage as ``connection_refused``, latency beyond
the read timeout as ``read_timeout``, an injected error as a 500, a wrong key
as a 401.
"""

import random
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from django.conf import settings

from integrations.client import CallContext, client_for
from integrations.errors import ConfigurationError, NotProcessed, Unknown
from integrations.providers import sandbox_webhooks
from integrations.providers.base import (
    BaseAdapter,
    ConfigField,
    HealthResult,
    SignedRequest,
    WebhookMessage,
)
from integrations.webhooks.messages import iso_time, json_object, required_str
from integrations.webhooks.verification import (
    VerifiedRequest,
    stored_standard_webhook,
    verify_standard_webhook,
)

T = TypeVar("T")

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
            help_text="Beyond the account's read timeout a call fails as a "
            "read timeout (outcome unknown), as a slow provider's would.",
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

    def simulate_call(self, *, read_timeout: float | None = None) -> None:
        """Apply the account's injected behaviour before doing the real work.

        Latency longer than ``read_timeout`` waits that long, then fails as a
        read timeout, as the client would for a real provider that slow.
        """
        api_key = self.credentials.get("api_key", "")
        if not api_key:
            raise ConfigurationError(
                "sandbox API key is not set", code="missing_credentials"
            )
        # A provider that is down refuses the connection before any auth.
        if self.setting("outage"):
            raise NotProcessed("sandbox outage (simulated)", code="connection_refused")
        _wait(int(self.setting("latency_ms") or 0) / 1000, read_timeout)
        if not api_key.startswith(SANDBOX_KEY_PREFIX):
            raise NotProcessed(
                "sandbox rejected the API key",
                code="authentication_failed",
                http_status=401,
            )
        if random.random() < float(self.setting("error_rate") or 0):
            raise Unknown(
                "sandbox error (simulated)", code="server_error", http_status=500
            )

    def sandbox_call(
        self,
        operation: str,
        work: Callable[[], T],
        *,
        idempotent: bool = True,
        idempotency_key: str | None = None,
    ) -> T:
        """``work()`` as one operation of the account's ProviderClient: one
        ProviderCall row, retries, breaker and limiter, as for a real call.

        Each attempt applies the injected behaviour, then does the work.
        ``idempotent``: a retry after an ``unknown`` cannot double the effect
        (the sandbox replays by idempotency key, as most gateways do).
        """
        client = client_for(self.account)

        def attempt(ctx: CallContext) -> T:
            # No HTTP request counts the attempt for the row: one per try.
            ctx.attempts += 1
            read_timeout = min(client.config.read_timeout, ctx.remaining())
            self.simulate_call(read_timeout=max(read_timeout, 0.0))
            result = work()
            ctx.http_status = 200
            return result

        return client.call(
            operation,
            attempt,
            idempotent=idempotent,
            idempotency_key=idempotency_key,
        )

    def health_check(self) -> HealthResult:
        return self.sandbox_call(
            "health_check", lambda: HealthResult(ok=True, detail="sandbox reachable")
        )

    def deliver_webhook(self, event_type: str, data: Mapping[str, Any]) -> str | None:
        """Have the sandbox post a signed webhook about what it just did to
        this account's intake, shortly after the current transaction commits
        (``sandbox_webhooks``). Returns the webhook id, or None when nothing
        will be sent (deliveries off, or the account has no webhook secret)."""
        return sandbox_webhooks.webhook_enqueue(
            account=self.account, event_type=event_type, data=data
        )

    # Standard Webhooks, signed with the account's ``webhook_secret``; the
    # body is ``{"type": ..., "timestamp": ..., "data": {...}}``.
    webhook_signing_credential = "webhook_secret"
    webhook_signs_body = True  # its signature covers the raw bytes
    webhook_signature_header = "webhook-signature"

    def check_webhook_signature(self, request: SignedRequest) -> VerifiedRequest:
        return verify_standard_webhook(
            secret=request.secret,
            body=request.body,
            headers=request.headers,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )

    def webhook_stored_verified(self, request: SignedRequest) -> VerifiedRequest:
        return stored_standard_webhook(request.headers)

    def webhook_message(
        self, request: SignedRequest, verified: VerifiedRequest
    ) -> WebhookMessage:
        payload = json_object(request.body)
        return WebhookMessage.build(
            event_type=required_str(payload, "type", what="webhook body"),
            dedupe_key=verified.webhook_id,
            payload=payload,
            occurred_at=iso_time(payload.get("timestamp")),
        )


def _wait(latency: float, read_timeout: float | None) -> None:
    if latency <= 0:
        return
    if read_timeout is None or latency <= read_timeout:
        time.sleep(latency)
        return
    time.sleep(read_timeout)
    raise Unknown("sandbox did not answer in time (simulated)", code="read_timeout")
