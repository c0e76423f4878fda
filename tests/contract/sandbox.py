"""A contract harness for the sandbox of any kind: faults come from the
account's settings and credentials, webhooks are signed exactly as the
sandbox's own deliveries are (integrations.providers.sandbox_webhooks).

A kind's ``harness_sandbox.py`` binds one ``SandboxHarness`` and exposes its
methods under the scenario names; it adds its own scenarios beside them.
"""

import time
import uuid
from dataclasses import dataclass

from integrations.models import ProviderAccount
from integrations.providers import sandbox_webhooks
from integrations.webhooks.verification import signed_headers
from tests.contract.runner import Webhook
from tests.factories import ProviderAccountFactory

SECRET = "whsec_dGVzdHNlY3JldA=="  # ProviderAccountFactory's default
OTHER_SECRET = "whsec_b3RoZXJzZWNyZXQ="
NOT_APPLICABLE = {
    "rate_limited_429": "the account settings inject no 429; the sandbox has "
    "no rate limit of its own",
    "malformed_json": "the sandbox runs in-process and has no wire format",
}


@dataclass(frozen=True)
class SandboxHarness:
    kind: str
    # What the kind's sandbox announces; any type verifies.
    event_type: str

    def make_account(self) -> ProviderAccount:
        return ProviderAccountFactory(
            kind=self.kind, provider="sandbox", slug=f"contract-{self.kind}"
        )

    def unauthorized_401(self, rsps: object, account: ProviderAccount) -> None:
        account.set_credentials({"api_key": "sk_live_not_a_sandbox_key"})
        account.save()

    def connection_refused(self, rsps: object, account: ProviderAccount) -> None:
        account.settings = {"outage": True}
        account.save()

    def server_error_500(self, rsps: object, account: ProviderAccount) -> None:
        account.settings = {"error_rate": 1.0}
        account.save()

    def read_timeout(self, rsps: object, account: ProviderAccount) -> None:
        account.settings = {"latency_ms": 200, "read_timeout": 0.02}
        account.save()

    def webhook_valid(self, rsps: object, account: ProviderAccount) -> Webhook:
        return self._webhook()

    def webhook_forged(self, rsps: object, account: ProviderAccount) -> Webhook:
        return self._webhook(secret=OTHER_SECRET)

    def webhook_stale(self, rsps: object, account: ProviderAccount) -> Webhook:
        return self._webhook(age=3600)

    def _webhook(self, *, secret: str = SECRET, age: int = 0) -> Webhook:
        body = sandbox_webhooks.webhook_body(self.event_type, {"id": "contract"})
        webhook_id = f"msg_{uuid.uuid4().hex}"
        if age:
            headers = signed_headers(
                secret=secret,
                webhook_id=webhook_id,
                body=body,
                timestamp=int(time.time()) - age,
            )
        else:
            headers = sandbox_webhooks.webhook_headers(
                secret=secret, webhook_id=webhook_id, body=body
            )
        return Webhook(body=body, headers=headers, event_type=self.event_type)
