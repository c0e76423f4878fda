"""Contract harness for the email sandbox (notifications/providers/sandbox.py):
faults from account settings (tests/contract/sandbox.py), outcomes from the
recipient's test address, webhooks signed exactly as its own deliveries are
(integrations.providers.sandbox_webhooks: Standard Webhooks)."""

import time
import uuid
from datetime import UTC, datetime, timedelta

from integrations.models import ProviderAccount
from integrations.providers import sandbox_webhooks
from integrations.webhooks.verification import signed_headers
from notifications.providers.base import BounceType, EmailEventType, OutboundEmail
from tests.contract.sandbox import OTHER_SECRET, SECRET, SandboxHarness
from tests.notifications.contract.harness import EmailWebhook, OutOfOrder, sample_email

PROVIDER = "sandbox"
NOT_APPLICABLE = {
    "rate_limited_429": "the account settings inject no 429; the sandbox has "
    "no rate limit of its own",
    "malformed_json": "the sandbox runs in-process and has no wire format",
    "webhook_batch": "the sandbox posts one event per request",
}
_sandbox = SandboxHarness(kind="email", event_type="email.bounced")
_PROVIDER_ID = "sbxmsg_contract0001"

make_account = _sandbox.make_account


def accepted(rsps: object, account: ProviderAccount) -> OutboundEmail:
    return sample_email("ada@example.com")


def invalid_recipient(rsps: object, account: ProviderAccount) -> OutboundEmail:
    return sample_email("invalid@example.com")


def unauthorized_401(rsps: object, account: ProviderAccount) -> OutboundEmail:
    _sandbox.unauthorized_401(rsps, account)
    return sample_email()


def connection_refused(rsps: object, account: ProviderAccount) -> OutboundEmail:
    _sandbox.connection_refused(rsps, account)
    return sample_email()


def server_error_500(rsps: object, account: ProviderAccount) -> OutboundEmail:
    _sandbox.server_error_500(rsps, account)
    return sample_email()


def read_timeout(rsps: object, account: ProviderAccount) -> OutboundEmail:
    _sandbox.read_timeout(rsps, account)
    return sample_email()


def webhook_valid(rsps: object, account: ProviderAccount) -> EmailWebhook:
    return _webhook(EmailEventType.BOUNCED, bounce=BounceType.HARD)


def webhook_forged(rsps: object, account: ProviderAccount) -> EmailWebhook:
    return _webhook(EmailEventType.DELIVERED, secret=OTHER_SECRET)


def webhook_stale(rsps: object, account: ProviderAccount) -> EmailWebhook:
    return _webhook(EmailEventType.DELIVERED, age=3600)


def webhook_out_of_order(rsps: object, account: ProviderAccount) -> OutOfOrder:
    now = datetime.now(UTC)
    return OutOfOrder(
        first=_webhook(EmailEventType.DELIVERED, at=now),
        second=_webhook(EmailEventType.DEFERRED, at=now - timedelta(minutes=5)),
    )


def _webhook(
    event: EmailEventType,
    *,
    bounce: BounceType | None = None,
    secret: str = SECRET,
    age: int = 0,
    at: datetime | None = None,
) -> EmailWebhook:
    data = {
        "provider_message_id": _PROVIDER_ID,
        "message_id": "eml_contract0001",
        "recipient": "ada@example.com",
        "bounce_type": bounce or "",
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
    }
    body = sandbox_webhooks.webhook_body(f"email.{event}", data)
    webhook_id = f"msg_{uuid.uuid4().hex}"
    headers = signed_headers(
        secret=secret,
        webhook_id=webhook_id,
        body=body,
        timestamp=int(time.time()) - age,
    )
    return EmailWebhook(
        body=body,
        headers=headers,
        event_type=f"email.{event}",
        event=event,
        provider_message_id=_PROVIDER_ID,
        recipient="ada@example.com",
        bounce_type=bounce,
    )
