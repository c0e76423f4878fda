"""A sender of ours the provider has not verified, at SendGrid and Postmark,
is our configuration as at Amazon SES (test_mail2_ses_unverified.py):
``ConfigurationError(sender_not_verified)``, not retried on the account,
failed over, an ERROR for staff without addresses, the customer's message
not failed.

- SendGrid answers 403 "The from address does not match a verified Sender
  Identity" on ``field`` ``from`` (Twilio error 60222, HTTP status 403; the
  body as SendGrid's client libraries' threads quote it).
- Postmark answers 422 with ErrorCode 400 "Sender Signature not found" or
  401 "Sender signature not confirmed" (its API error-code table), and on
  newer servers ErrorCode 300 "Invalid 'From' address: '...' is not a
  verified sender signature." (Postmark's support article on 422 errors).
Over a local fault server, as test_sendgrid_send.py and test_postmark.py."""

import json
import logging
from pathlib import Path

import pytest

from integrations.errors import NotProcessed, Rejected
from integrations.models import ProviderAccount, ProviderCall
from integrations.registry import get_adapter
from integrations.testing.faultserver import FaultServer, respond
from notifications.models import EmailStatus
from notifications.providers.postmark import PostmarkAdapter
from notifications.providers.sendgrid import SendGridAdapter
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parents[2] / "fixtures"
SENDGRID = json.loads((FIXTURES / "sendgrid" / "errors.json").read_text())
POSTMARK = json.loads((FIXTURES / "postmark" / "api.json").read_text())
ORDER = {"order_id": "1001", "amount_display": "€10.50"}
# Three attempts allowed: one request proves the account is not retried.
RETRIES = {"max_attempts": 3}


@pytest.fixture
def sendgrid(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    url = fault.url + "/v3/"
    monkeypatch.setattr(SendGridAdapter, "api_urls", {"test": url, "live": url})
    return ProviderAccountFactory(
        kind="email",
        provider="sendgrid",
        priority=1,
        credentials={"api_key": "SG.account-key-0123456789"},
        settings=fast(**RETRIES),
    )


@pytest.fixture
def postmark(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    url = fault.url + "/"
    monkeypatch.setattr(PostmarkAdapter, "api_urls", {"test": url, "live": url})
    return ProviderAccountFactory(
        kind="email",
        provider="postmark",
        priority=1,
        credentials={"server_token": "server-token"},
        settings=fast(**RETRIES),
    )


CASES = {
    "sendgrid_403": ("sendgrid", "/v3/mail/send", 403, SENDGRID["from_not_verified"]),
    # Some reports have it at 400: the body decides, not the status.
    "sendgrid_400": ("sendgrid", "/v3/mail/send", 400, SENDGRID["from_not_verified"]),
    "postmark_400": ("postmark", "/email", 422, POSTMARK["sender_signature_not_found"]),
    "postmark_401": (
        "postmark",
        "/email",
        422,
        POSTMARK["sender_signature_not_confirmed"],
    ),
    "postmark_300": (
        "postmark",
        "/email",
        422,
        POSTMARK["from_not_a_verified_signature"],
    ),
}


@pytest.fixture(params=sorted(CASES))
def refusal(request, fault):
    provider, path, status, body = CASES[request.param]
    account = request.getfixturevalue(provider)
    fault.route("POST", path, respond(status, json=body))
    return account, path, status


def test_an_unverified_sender_is_our_configuration(refusal, fault) -> None:
    account, path, status = refusal
    with pytest.raises(NotProcessed) as info:
        get_adapter(account).send(sample_email())
    assert info.value.code == "sender_not_verified"
    assert info.value.http_status == status
    call = ProviderCall.objects.filter(account=account).latest("pk")
    assert (call.outcome, call.error_code) == ("not_processed", "sender_not_verified")
    # Retrying the same account cannot verify the sender.
    assert len(fault.requests_for("POST", path)) == 1


def test_staff_are_alerted_without_the_addresses(refusal, caplog) -> None:
    account, _, _ = refusal
    with caplog.at_level(logging.ERROR), pytest.raises(NotProcessed):
        get_adapter(account).send(sample_email())
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.account == account.slug
    text = record.getMessage()
    assert "shop@example.com" not in text and "ada@example.com" not in text


def _message():
    return email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context=ORDER,
        from_email="shop@example.com",
        enqueue=False,
    )


def test_the_message_fails_over_and_is_not_failed(refusal) -> None:
    backup = ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    message = _message()
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.SENT
    message.refresh_from_db()
    assert message.account == backup
    assert message.error_code == ""


def test_with_no_other_account_the_message_waits_not_fails(refusal) -> None:
    message = _message()
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.QUEUED
    message.refresh_from_db()
    # The refusal is the reason kept (test_mail4_config_reasons.py).
    assert message.error_code == "sender_not_verified"


def test_a_malformed_from_at_postmark_is_still_a_refusal(postmark, fault) -> None:
    # ErrorCode 300 about the From's syntax, naming no sender signature:
    # the message as built, not the account.
    fault.route("POST", "/email", respond(422, json=POSTMARK["invalid_from"]))
    with pytest.raises(Rejected) as info:
        get_adapter(postmark).send(sample_email())
    assert info.value.code == "unprocessable"


def test_another_sendgrid_403_is_still_the_api_key(sendgrid, fault) -> None:
    fault.route("POST", "/v3/mail/send", respond(403, json=SENDGRID["forbidden"]))
    with pytest.raises(NotProcessed) as info:
        get_adapter(sendgrid).send(sample_email())
    assert info.value.code == "permission_denied"
