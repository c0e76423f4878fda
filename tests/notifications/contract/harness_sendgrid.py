"""Contract harness for SendGrid (anymail's backend on the account's client
session). Answers from tests/fixtures/sendgrid/ (README there names the spec
and example of each); webhooks signed with an ECDSA P-256 key generated in
tests/notifications/signing_keys.py."""

import json
import time
from pathlib import Path
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from integrations.models import ProviderAccount
from notifications.providers.base import EmailEventType, OutboundEmail
from notifications.providers.sendgrid import SendGridAdapter
from notifications.providers.sendgrid_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import EmailWebhook, OutOfOrder, sample_email
from tests.notifications.signing_keys import sendgrid_public_key_text, sendgrid_sign

PROVIDER = "sendgrid"
NOT_APPLICABLE = {
    "malformed_json": "SendGrid answers a send with 202 and an empty body "
    "(oai.json: 202 has no schema); anymail reads no body, so there is none "
    "to be malformed",
}
FIXTURES = Path(__file__).parents[2] / "fixtures" / "sendgrid"
SEND_URL = SendGridAdapter.api_urls["test"] + "mail/send"
ANYMAIL_ID = "3c2f4df8-c6dd-4cd2-9b91-6582b81a0349"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def event(name: str, **changes: Any) -> dict[str, Any]:
    return {**load("events.json")[name], **changes}


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider=PROVIDER,
        credentials={
            "api_key": "SG.test-key",
            "webhook_verification_key": sendgrid_public_key_text(),
        },
    )


def signed(
    events: list[dict[str, Any]], *, timestamp: int | None = None, **kwargs: Any
) -> EmailWebhook:
    body = json.dumps(events).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sendgrid_sign(body, stamp),
    }
    return EmailWebhook(body=body, headers=headers, **kwargs)


def _answers(rsps, **kwargs: Any) -> OutboundEmail:
    rsps.post(SEND_URL, **kwargs)
    return sample_email()


def accepted(rsps, account) -> OutboundEmail:
    return _answers(rsps, status=202, body=b"", headers={"X-Message-Id": "wrfRRvF7"})


def invalid_recipient(rsps, account) -> OutboundEmail:
    rsps.post(SEND_URL, status=400, json=load("errors.json")["invalid_recipient"])
    return sample_email(to="invalid@invalid")


def unauthorized_401(rsps, account) -> OutboundEmail:
    return _answers(rsps, status=401, json=load("errors.json")["unauthorized"])


def rate_limited_429(rsps, account) -> OutboundEmail:
    return _answers(
        rsps,
        status=429,
        json=load("errors.json")["rate_limited"],
        headers={"Retry-After": "30"},
    )


def server_error_500(rsps, account) -> OutboundEmail:
    return _answers(rsps, status=500, json=load("errors.json")["server_error"])


def read_timeout(rsps, account) -> OutboundEmail:
    return _answers(rsps, body=requests.ReadTimeout("read timed out"))


def connection_refused(rsps, account) -> OutboundEmail:
    refused = NewConnectionError(None, "Failed to establish a new connection")
    return _answers(rsps, body=requests.ConnectionError(refused))


def webhook_valid(rsps, account) -> EmailWebhook:
    return signed(
        [event("delivered")],
        event=EmailEventType.DELIVERED,
        provider_message_id=ANYMAIL_ID,
        recipient="recipient@example.com",
    )


def webhook_forged(rsps, account) -> EmailWebhook:
    hook = signed([event("delivered")])
    forged = hook.body.replace(b"delivered", b"bounce")
    return EmailWebhook(body=forged, headers=hook.headers)


def webhook_stale(rsps, account) -> EmailWebhook:
    return signed([event("delivered")], timestamp=int(time.time()) - 3600)


def webhook_out_of_order(rsps, account) -> OutOfOrder:
    return OutOfOrder(
        first=signed([event("open")], event=EmailEventType.OPENED),
        second=signed([event("delivered")], event=EmailEventType.DELIVERED),
    )


def webhook_batch(rsps, account) -> EmailWebhook:
    names = ("delivered", "open", "click", "bounce", "spamreport")
    return signed([event(name) for name in names])
