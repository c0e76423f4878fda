"""Contract harness for Postmark (anymail's backend on the account's client
session). Answers and events from tests/fixtures/postmark/ (README there
names the recording or example of each); webhooks carry the basic-auth
credentials of the webhook URL."""

import base64
import json
from pathlib import Path
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from integrations.models import ProviderAccount
from notifications.providers.base import BounceType, EmailEventType, OutboundEmail
from notifications.providers.postmark import PostmarkAdapter
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import EmailWebhook, OutOfOrder, sample_email

PROVIDER = "postmark"
NOT_APPLICABLE = {
    "webhook_stale": "Postmark sends no timestamp and signs nothing; the "
    "credentials in the URL are the check, and duplicates the dedupe key's",
    "webhook_batch": "Postmark posts one record per request",
}
FIXTURES = Path(__file__).parents[2] / "fixtures" / "postmark"
SEND_URL = PostmarkAdapter.api_urls["test"] + "email"
WEBHOOK_USER = "postmark-hooks"
WEBHOOK_PASSWORD = "correct horse battery staple"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def event(name: str, **changes: Any) -> dict[str, Any]:
    return {**load("events.json")[name], **changes}


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider=PROVIDER,
        credentials={
            "server_token": "server-token-test",
            "webhook_username": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
        },
    )


def posted(
    payload: dict[str, Any],
    *,
    user: str = WEBHOOK_USER,
    password: str = WEBHOOK_PASSWORD,
    **kwargs: Any,
) -> EmailWebhook:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {token}"}
    return EmailWebhook(body=json.dumps(payload).encode(), headers=headers, **kwargs)


def _answers(rsps, **kwargs: Any) -> OutboundEmail:
    rsps.post(SEND_URL, **kwargs)
    return sample_email()


def accepted(rsps, account) -> OutboundEmail:
    return _answers(rsps, json=load("api.json")["send_ok"])


def invalid_recipient(rsps, account) -> OutboundEmail:
    rsps.post(SEND_URL, status=422, json=load("api.json")["invalid_recipient"])
    return sample_email(to="invalid@invalid")


def unauthorized_401(rsps, account) -> OutboundEmail:
    return _answers(rsps, status=401, json=load("api.json")["unauthorized"])


def rate_limited_429(rsps, account) -> OutboundEmail:
    return _answers(
        rsps,
        status=429,
        json=load("api.json")["rate_limited"],
        headers={"Retry-After": "10"},
    )


def server_error_500(rsps, account) -> OutboundEmail:
    return _answers(rsps, status=500, json=load("api.json")["server_error"])


def read_timeout(rsps, account) -> OutboundEmail:
    return _answers(rsps, body=requests.ReadTimeout("read timed out"))


def connection_refused(rsps, account) -> OutboundEmail:
    refused = NewConnectionError(None, "Failed to establish a new connection")
    return _answers(rsps, body=requests.ConnectionError(refused))


def malformed_json(rsps, account) -> OutboundEmail:
    return _answers(rsps, body='{"To": "ada@example.com", "MessageID": "806aa9ad-')


def webhook_valid(rsps, account) -> EmailWebhook:
    return posted(
        event("bounce_hard"),
        event=EmailEventType.BOUNCED,
        provider_message_id="2706ee8a-737c-4285-b032-ccd317af53ed",
        recipient="bounce@example.com",
        bounce_type=BounceType.HARD,
    )


def webhook_forged(rsps, account) -> EmailWebhook:
    return posted(event("delivery"), password="guessed")


def webhook_out_of_order(rsps, account) -> OutOfOrder:
    return OutOfOrder(
        first=posted(event("open"), event=EmailEventType.OPENED),
        second=posted(event("delivery"), event=EmailEventType.DELIVERED),
    )
