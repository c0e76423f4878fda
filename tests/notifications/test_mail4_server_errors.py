"""A 5xx from a provider that documents it may have taken the message is
``unknown``: not failed over (another account would send it a second time),
not retried (neither has an idempotency key for a send), the message left
``unknown`` for staff. Amazon SES ("You should retry HTTPS requests that
receive 5xx errors ... to reduce the likelihood of generating duplicates",
API error codes) and Postmark (500: "In most cases the message is lost",
not always; its 503 is a planned outage, nothing taken). SendGrid and
Mailgun document no such thing: their 5xx still fails over
(docs/providers/email.md, "5xx answers"). Over a local fault server."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.models import ProviderAccount, ProviderCall
from integrations.testing.faultserver import FaultServer, fault_server, respond
from notifications.models import EmailStatus, SandboxEmail
from notifications.providers.amazon_ses import AmazonSesAdapter
from notifications.providers.mailgun import MailgunAdapter
from notifications.providers.postmark import PostmarkAdapter
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parents[1] / "fixtures"
MAILGUN_API = json.loads((FIXTURES / "mailgun/api.json").read_text())
ORDER = {"order_id": "1001", "amount_display": "€10.50"}
SES_SEND = "/v2/email/outbound-emails"
POSTMARK_SEND = "/email"
MAILGUN_SEND = "/v3/mg.example.com/messages"


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    with fault_server(hang_limit=3) as server:
        yield server


@pytest.fixture
def urls(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    both = {"test": fault.url, "live": fault.url}
    monkeypatch.setattr(AmazonSesAdapter, "endpoint_urls", both)
    slash = {"test": fault.url + "/", "live": fault.url + "/"}
    monkeypatch.setattr(PostmarkAdapter, "api_urls", slash)
    monkeypatch.setattr(MailgunAdapter, "region_urls", {"us": fault.url + "/"})


def _primary(provider: str) -> ProviderAccount:
    settings = {
        "amazon_ses": fast(region="eu-west-1"),
        "postmark": fast(),
        "mailgun": fast(sender_domain="mg.example.com"),
    }[provider]
    credentials = {
        "amazon_ses": {
            "access_key_id": "AKIAFAULTSERVERTEST",
            "secret_access_key": "secret-not-logged",
        },
        "postmark": {"server_token": "server-token"},
        "mailgun": {"api_key": "key-secret"},
    }[provider]
    return ProviderAccountFactory(
        kind="email",
        provider=provider,
        slug=f"{provider}-main",
        priority=1,
        credentials=credentials,
        settings=settings,
    )


def _deliver() -> tuple[str, object]:
    backup = ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    message = email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context=ORDER,
        from_email="shop@example.com",
        enqueue=False,
    )
    status = email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    return status, message, backup


@pytest.mark.parametrize("status", [500, 503])
def test_an_ses_5xx_is_unknown_and_not_failed_over(urls, fault, status) -> None:
    account = _primary("amazon_ses")
    error = {"message": "We encountered an internal error."}
    headers = {"x-amzn-ErrorType": "InternalFailure:http://internal.amazon.com/"}
    fault.route("POST", SES_SEND, respond(status, json=error, headers=headers))
    result, message, _ = _deliver()
    assert result == EmailStatus.UNKNOWN
    assert message.account == account
    assert not SandboxEmail.objects.exists()  # the backup sent nothing
    assert len(fault.requests_for("POST", SES_SEND)) == 1  # not retried
    call = ProviderCall.objects.filter(account=account).latest("pk")
    assert call.outcome == "unknown"


def test_a_postmark_500_is_unknown_and_not_failed_over(urls, fault) -> None:
    account = _primary("postmark")
    fault.route("POST", POSTMARK_SEND, respond(500, json={"Message": "error"}))
    result, message, _ = _deliver()
    assert result == EmailStatus.UNKNOWN
    assert message.account == account
    assert not SandboxEmail.objects.exists()
    assert len(fault.requests_for("POST", POSTMARK_SEND)) == 1


def test_a_postmark_503_planned_outage_fails_over(urls, fault) -> None:
    _primary("postmark")
    fault.route("POST", POSTMARK_SEND, respond(503, json={"Message": "outage"}))
    result, message, backup = _deliver()
    assert result == EmailStatus.SENT
    assert message.account == backup


def test_a_mailgun_500_still_fails_over(urls, fault) -> None:
    _primary("mailgun")
    fault.route("POST", MAILGUN_SEND, respond(500, json=MAILGUN_API["server_error"]))
    result, message, backup = _deliver()
    assert result == EmailStatus.SENT
    assert message.account == backup
