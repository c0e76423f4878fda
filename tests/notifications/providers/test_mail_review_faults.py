"""Outside review of the email send path (task "mail"): faults under a real
socket, through the public service (email_message_create, then the deliver
task), checking that failover happens only when the first provider
certainly took nothing, and that the message is kept with its error."""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from integrations.models import ProviderAccount
from integrations.testing.faultserver import FaultServer, fault_server, respond
from notifications.models import EmailMessage, EmailStatus
from notifications.providers.postmark import PostmarkAdapter
from notifications.providers.sendgrid import SendGridAdapter
from notifications.services import (
    email_message_create,
    email_message_deliver,
    email_messages_sweep,
)
from tests.factories import ProviderAccountFactory
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

POSTMARK_OK = json.loads(
    (Path(__file__).parents[2] / "fixtures/postmark/api.json").read_text()
)["send_ok"]
SENDGRID = "/v3/mail/send"
ORDER = {"order_id": "o-1", "amount_display": "€1.00"}


@pytest.fixture
def secondary() -> Iterator[FaultServer]:
    with fault_server(hang_limit=3) as server:
        server.route("POST", "/email", respond(200, json=POSTMARK_OK))
        yield server


@pytest.fixture
def accounts(
    fault: FaultServer, secondary: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[ProviderAccount, ProviderAccount]:
    primary_url = fault.url + "/v3/"
    monkeypatch.setattr(
        SendGridAdapter, "api_urls", {"test": primary_url, "live": primary_url}
    )
    url = secondary.url + "/"
    monkeypatch.setattr(PostmarkAdapter, "api_urls", {"test": url, "live": url})
    primary = ProviderAccountFactory(
        kind="email",
        provider="sendgrid",
        priority=1,
        credentials={"api_key": "SG.primary-key-0123"},
        settings=fast(),
    )
    second = ProviderAccountFactory(
        kind="email",
        provider="postmark",
        priority=2,
        credentials={"server_token": "postmark-token-0123"},
        settings=fast(),
    )
    return primary, second


def _send() -> EmailMessage:
    message = email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context=ORDER,
        idempotency_key="review-1",
        enqueue=False,
    )
    email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    return message


def test_a_408_from_the_primary_fails_over_and_the_order_mail_goes_once(
    accounts, fault, secondary
) -> None:
    # 408 Request Timeout: the server gave up before it had the whole request
    # (RFC 9110 15.5.9), so it took nothing; the message must not be failed
    # for good while another account can send it.
    fault.route("POST", SENDGRID, respond(408, json={"errors": []}))
    message = _send()
    assert message.status == EmailStatus.SENT, (message.status, message.error_code)
    assert message.account == accounts[1]
    assert len(fault.requests_for("POST", SENDGRID)) == 1
    assert len(secondary.requests_for("POST", "/email")) == 1


@pytest.fixture
def sendgrid_only(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = fault.url + "/v3/"
    monkeypatch.setattr(SendGridAdapter, "api_urls", {"test": url, "live": url})
    ProviderAccountFactory(
        kind="email",
        provider="sendgrid",
        credentials={"api_key": "SG.only-key-0123"},
        settings=fast(),
    )


def _rate_limited(fault: FaultServer, wait: str) -> None:
    answer = respond(429, json={"errors": []}, headers={"Retry-After": wait})
    fault.route("POST", SENDGRID, *[answer] * 8)


def test_a_429_retry_after_is_waited_out_before_the_message_is_tried_again(
    sendgrid_only, fault
) -> None:
    # The provider asked for ten minutes: the sweeper (every minute) must not
    # spend the message's attempts asking again meanwhile, or the order mail
    # fails for good while the provider was only pacing us.
    _rate_limited(fault, "600")
    message = _send()
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 1)
    started = timezone.now()
    for minutes in (2, 4, 6, 8, 9):
        email_messages_sweep(now=started + timedelta(minutes=minutes))
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 1)
    assert len(fault.requests_for("POST", SENDGRID)) == 1
    fault.route("POST", SENDGRID, respond(202, body=b""))
    email_messages_sweep(now=started + timedelta(minutes=11))
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.SENT, 2)


def test_without_a_retry_after_the_next_sweep_tries_again(sendgrid_only, fault) -> None:
    fault.route("POST", SENDGRID, respond(503), respond(202, body=b""))
    message = _send()
    assert message.status == EmailStatus.QUEUED
    email_messages_sweep(now=timezone.now() + timedelta(minutes=2))
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.SENT, 2)
