"""Signed webhooks whose body cannot be used: stored dead, never dropped.

A request that passed its provider's verification but whose body the adapter
cannot read (an array, a scalar, empty, not JSON, an event without its id or
type, a shape it does not know) raises UnusableWebhook. Refusing it lost it:
the provider retries into the same refusal or gives up, and staff never see
it. The intake stores it instead, once, as received, dead with its error, and
answers 2xx: no retry can change the body. Verification comes first, so a
forged or unsigned request is still refused and stores nothing.

Such a row has no event id we could read: a second delivery of the same body
is a duplicate by the body's hash. It is never processed; staff read the body
and the error in the admin, and once a fix can read it, a replay reads it
again (webhooks.recovery). Its payload names the kind and provider of the
account that received it: only the same may read it again.
"""

import hashlib
from collections.abc import Mapping

from integrations import correlation
from integrations.models import ProviderAccount, WebhookStatus
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.services import UNUSABLE_EVENT_TYPE, webhook_event_store
from integrations.webhooks.verification import UnusableWebhook

DEDUPE_PREFIX = "sha256:"
# Before the stored error: why the row is dead without an attempt.
NOT_PROCESSED = (
    "Not processed: the webhook passed verification but its body cannot be "
    "used, so no retry can help (a replay reads it again once a fix can). "
)
RECEIVED_BY = "received_by"


def received_by(account: ProviderAccount) -> dict[str, str]:
    """What an unusable row keeps of the account that received it."""
    return {"kind": account.kind, "provider": account.provider}


def dedupe_key(body: bytes) -> str:
    return DEDUPE_PREFIX + hashlib.sha256(body).hexdigest()


def stored_error(error: UnusableWebhook) -> str:
    """The error code (and the field, when one is named) and the reason."""
    where = f", {error.param}" if error.param else ""
    return f"{NOT_PROCESSED}[{error.code}{where}] {error.message}"


def webhook_unusable_store(
    *,
    account: ProviderAccount,
    body: bytes,
    headers: Mapping[str, str],
    error: UnusableWebhook,
) -> tuple[int, bool]:
    """Store a verified request whose body cannot be used, dead with its
    error and not enqueued: ``(event id, created)``; ``created`` is False
    when the same body is already stored."""
    message = WebhookMessage(
        event_type=UNUSABLE_EVENT_TYPE,
        dedupe_key=dedupe_key(body),
        payload={RECEIVED_BY: received_by(account)},
    )
    return webhook_event_store(
        account=account,
        message=message,
        body=body,
        headers=headers,
        correlation_id=correlation.get() or "",
        columns={"status": WebhookStatus.DEAD, "last_error": stored_error(error)},
    )
