"""Issue 17's rule 4 for email: a send whose answer is lost (read timeout,
connection reset after sending) is never sent again, by retry or by
failover to the next account; only a send that certainly did nothing
(connection refused) fails over. Checked for each provider through the
storefront API, with a sandbox account behind it."""

from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses
from botocore import exceptions as boto
from rest_framework.test import APIClient
from urllib3.exceptions import NewConnectionError, ProtocolError

from integrations.models import ProviderCall
from notifications.models import EmailMessage, SandboxEmail
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.notifications.contract import (
    harness_amazon_ses,
    harness_mailgun,
    harness_postmark,
    harness_sendgrid,
)

pytestmark = pytest.mark.django_db

RESET = ConnectionResetError(104, "Connection reset by peer")
REQUESTS_FAULTS: dict[str, Callable[[], Exception]] = {
    "read_timeout": lambda: requests.ReadTimeout("read timed out"),
    "reset": lambda: requests.ConnectionError(
        ProtocolError("Connection aborted.", RESET)
    ),
    "refused": lambda: requests.ConnectionError(
        NewConnectionError(None, "Failed to establish a new connection: refused")
    ),
}
SES_FAULTS: dict[str, Callable[[str], Exception]] = {
    "read_timeout": lambda url: boto.ReadTimeoutError(endpoint_url=url),
    "reset": lambda url: boto.ConnectionClosedError(endpoint_url=url),
    "refused": lambda url: boto.EndpointConnectionError(endpoint_url=url),
}
HTTP_HARNESSES = {
    "sendgrid": (harness_sendgrid, harness_sendgrid.SEND_URL),
    "mailgun": (harness_mailgun, harness_mailgun.SEND_URL),
    "postmark": (harness_postmark, harness_postmark.SEND_URL),
}
# What each fault means: sent again through the sandbox, or left unknown.
EXPECTED = {"read_timeout": "unknown", "reset": "unknown", "refused": "sent"}


@pytest.fixture(autouse=True)
def few_attempts(settings: Any) -> None:
    settings.PROVIDER_MAX_ATTEMPTS = 3  # a retry would show as a second call


def _send(django_capture_on_commit_callbacks) -> EmailMessage:
    key = ApiKeyFactory(scopes=["email:send"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    body = {
        "to": "ada@example.com",
        "template": "order_confirmation",
        "context": {"order_id": "o-1", "amount_display": "€1.00"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/notifications/emails/",
            body,
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-1",
        )
    assert response.status_code == 201, response.content
    return EmailMessage.objects.get()


def _primary(harness: Any) -> Any:
    account = harness.make_account()
    account.slug, account.priority = "primary", 1
    account.save()
    ProviderAccountFactory(kind="email", slug="sandbox-next", priority=2)
    return account


def _check(message: EmailMessage, fault: str, calls: int) -> None:
    message.refresh_from_db()
    assert message.status == EXPECTED[fault], (message.status, message.error_code)
    if EXPECTED[fault] == "unknown":
        assert calls == 1  # never retried on the account
        assert SandboxEmail.objects.count() == 0  # never failed over
        call = ProviderCall.objects.get(account__slug="primary")
        assert call.outcome == "unknown"
    else:
        assert SandboxEmail.objects.count() == 1
        assert message.account.slug == "sandbox-next"


@pytest.mark.parametrize("fault", sorted(EXPECTED))
@pytest.mark.parametrize("provider", sorted(HTTP_HARNESSES))
def test_http_providers_never_send_a_lost_answer_twice(
    provider, fault, django_capture_on_commit_callbacks
) -> None:
    harness, url = HTTP_HARNESSES[provider]
    _primary(harness)
    with responses.RequestsMock() as rsps:
        rsps.post(url, body=REQUESTS_FAULTS[fault]())
        message = _send(django_capture_on_commit_callbacks)
        calls = len(rsps.calls)
    _check(message, fault, calls)


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_amazon_ses_never_sends_a_lost_answer_twice(
    fault, django_capture_on_commit_callbacks
) -> None:
    account = _primary(harness_amazon_ses)
    calls = []

    def lose(request: Any, **kwargs: Any) -> None:
        calls.append(request.url)
        raise SES_FAULTS[fault](request.url)

    harness_amazon_ses.ses_client(account).meta.events.register(
        "before-send.sesv2.SendEmail", lose
    )
    message = _send(django_capture_on_commit_callbacks)
    _check(message, fault, len(calls))
