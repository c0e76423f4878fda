"""Contract harness for Mailgun (anymail's backend on the account's client
session). Answers and events from tests/fixtures/mailgun/ (README there
names the spec and example of each); webhooks signed as Mailgun signs them."""

import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from integrations.models import ProviderAccount
from notifications.providers.base import BounceType, EmailEventType, OutboundEmail
from notifications.providers.mailgun import MailgunAdapter
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import EmailWebhook, OutOfOrder, sample_email

PROVIDER = "mailgun"
NOT_APPLICABLE = {
    "webhook_batch": "Mailgun posts one event per request (its webhooks carry "
    "one event-data object)",
}
FIXTURES = Path(__file__).parents[2] / "fixtures" / "mailgun"
DOMAIN = "mg.example.com"
SEND_URL = f"{MailgunAdapter.region_urls['us']}v3/{DOMAIN}/messages"
SIGNING_KEY = "key-mailgun-webhook-signing-test"
MESSAGE_ID = "20180812211713.1.DF5966851B4BAA99@example.org"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def event(name: str, **changes: Any) -> dict[str, Any]:
    return {**load("events.json")[name], **changes}


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider=PROVIDER,
        credentials={"api_key": "key-test", "webhook_signing_key": SIGNING_KEY},
        settings={"sender_domain": DOMAIN},
    )


def signed(
    data: dict[str, Any],
    *,
    timestamp: int | None = None,
    token: str | None = None,
    key: str = SIGNING_KEY,
    **kwargs: Any,
) -> EmailWebhook:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    signature = hmac.new(
        key.encode(), (stamp + token).encode(), hashlib.sha256
    ).hexdigest()
    body = json.dumps(
        {
            "signature": {"timestamp": stamp, "token": token, "signature": signature},
            "event-data": data,
        }
    ).encode()
    return EmailWebhook(
        body=body, headers={"Content-Type": "application/json"}, **kwargs
    )


def _answers(rsps, **kwargs: Any) -> OutboundEmail:
    rsps.post(SEND_URL, **kwargs)
    return sample_email()


def accepted(rsps, account) -> OutboundEmail:
    return _answers(rsps, json=load("api.json")["send_ok"])


def invalid_recipient(rsps, account) -> OutboundEmail:
    rsps.post(SEND_URL, status=400, json=load("api.json")["invalid_recipient"])
    return sample_email(to="invalid@invalid")


def unauthorized_401(rsps, account) -> OutboundEmail:
    return _answers(rsps, status=401, body="Forbidden")


def rate_limited_429(rsps, account) -> OutboundEmail:
    # Mailgun says when to come back in the body; no Retry-After header.
    return _answers(rsps, status=429, json=load("api.json")["rate_limited"])


def server_error_500(rsps, account) -> OutboundEmail:
    return _answers(rsps, status=500, json=load("api.json")["server_error"])


def read_timeout(rsps, account) -> OutboundEmail:
    return _answers(rsps, body=requests.ReadTimeout("read timed out"))


def connection_refused(rsps, account) -> OutboundEmail:
    refused = NewConnectionError(None, "Failed to establish a new connection")
    return _answers(rsps, body=requests.ConnectionError(refused))


def malformed_json(rsps, account) -> OutboundEmail:
    return _answers(rsps, body='{"id": "<20180812211713.1@example.org>", "mess')


def webhook_valid(rsps, account) -> EmailWebhook:
    return signed(
        event("failed_permanent"),
        event=EmailEventType.BOUNCED,
        provider_message_id="20180812214658.1.0DF563D0B3597700@example.org",
        recipient="invalid@example.com",
        bounce_type=BounceType.HARD,
    )


def webhook_forged(rsps, account) -> EmailWebhook:
    return signed(event("delivered"), key="not-the-signing-key")


def webhook_stale(rsps, account) -> EmailWebhook:
    return signed(event("delivered"), timestamp=int(time.time()) - 3600)


def webhook_out_of_order(rsps, account) -> OutOfOrder:
    return OutOfOrder(
        first=signed(event("opened"), event=EmailEventType.OPENED),
        second=signed(
            event("delivered"),
            event=EmailEventType.DELIVERED,
            provider_message_id=MESSAGE_ID,
        ),
    )
