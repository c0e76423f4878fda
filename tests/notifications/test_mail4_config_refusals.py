"""Refusals that are our account's setup, not the recipient's fault: a
Mailgun sandbox (or free plan) domain that sends only to authorized
recipients (403 "... is not allowed to send"), a sending domain Mailgun does
not know (401/404 "Domain not found"), a relay refusing our sender (550/553
"Sender address rejected", at MAIL FROM or at RCPT as Postfix delays it) or
refusing to relay for us (5.7.1 "Relay access denied"). Like
``sender_not_verified``: failed over, one ERROR naming the account without
addresses, the customer's address neither blamed nor suppressed. Mailgun over
a local fault server (fixtures: tests/fixtures/mailgun/config_refusals.json),
SMTP over a scripted relay on 127.0.0.1."""

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.errors import ConfigurationError, NotProcessed, Rejected
from integrations.models import ProviderAccount, ProviderCall
from integrations.registry import get_adapter
from integrations.testing.faultserver import FaultServer, fault_server, respond
from notifications.models import EmailStatus, Suppression
from notifications.providers.mailgun import MailgunAdapter
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast
from tests.notifications.scripted_relay import (
    CUSTOMER,
    ScriptedRelay,
    delivered,
    error_records,
    relay_account,
    scripted_relay,
)

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parents[1] / "fixtures/mailgun"
API = json.loads((FIXTURES / "api.json").read_text())
REFUSALS = json.loads((FIXTURES / "config_refusals.json").read_text())
DOMAIN = "mg.example.com"
SEND = f"/v3/{DOMAIN}/messages"


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    with fault_server(hang_limit=3) as server:
        yield server


@pytest.fixture
def mailgun(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    urls = {"us": fault.url + "/", "eu": fault.url + "/eu/"}
    monkeypatch.setattr(MailgunAdapter, "region_urls", urls)
    return ProviderAccountFactory(
        kind="email",
        provider="mailgun",
        slug="mailgun-main",
        priority=1,
        credentials={"api_key": "key-secret"},
        settings=fast(sender_domain=DOMAIN),
    )


MAILGUN_REFUSALS = [
    (403, REFUSALS["free_account_sandbox"]),
    (403, REFUSALS["sandbox_subdomain"]),
    (401, API["domain_not_found"]),
    (404, API["domain_not_found"]),
    (404, REFUSALS["domain_not_found_bare"]),
]
MAILGUN_IDS = ["403-free", "403-sandbox", "401-domain", "404-domain", "404-bare"]


@pytest.mark.parametrize(("status", "body"), MAILGUN_REFUSALS, ids=MAILGUN_IDS)
def test_mailgun_account_setup_is_our_configuration(
    mailgun, fault, caplog, status, body
) -> None:
    fault.route("POST", SEND, respond(status, json=body))
    with caplog.at_level(logging.ERROR), pytest.raises(NotProcessed) as info:
        get_adapter(mailgun).send(sample_email(to=CUSTOMER))
    assert isinstance(info.value, ConfigurationError)
    assert info.value.code == "sending_not_allowed"
    assert info.value.http_status == status
    call = ProviderCall.objects.filter(account=mailgun).latest("pk")
    assert (call.outcome, call.error_code) == ("not_processed", "sending_not_allowed")
    # Retrying the same account cannot change its setup.
    assert len(fault.requests_for("POST", SEND)) == 1
    (record,) = error_records(caplog)
    assert record.account == mailgun.slug
    assert CUSTOMER not in record.getMessage()
    assert CUSTOMER not in info.value.message


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        # The spec's 429 says "not allowed to send" too: a rate limit.
        (429, API["rate_limited"], "too_many_requests"),
        (401, REFUSALS["forbidden"], "authentication_failed"),
    ],
    ids=["429", "401-key"],
)
def test_mailgun_other_refusals_keep_their_reading(
    mailgun, fault, status, body, code
) -> None:
    fault.route("POST", SEND, respond(status, json=body))
    with pytest.raises(NotProcessed) as info:
        get_adapter(mailgun).send(sample_email(to=CUSTOMER))
    assert info.value.code == code


def test_a_mailgun_sandbox_fails_over_and_blames_nobody(mailgun, fault) -> None:
    backup = ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    fault.route("POST", SEND, respond(403, json=REFUSALS["free_account_sandbox"]))
    status, message = delivered()
    assert status == EmailStatus.SENT
    assert message.account == backup
    assert not Suppression.objects.exists()


def test_with_no_other_account_the_message_waits_with_the_reason(
    mailgun, fault
) -> None:
    fault.route("POST", SEND, respond(403, json=REFUSALS["free_account_sandbox"]))
    status, message = delivered()
    assert status == EmailStatus.QUEUED
    assert message.error_code == "sending_not_allowed"
    assert CUSTOMER not in message.last_error
    assert not Suppression.objects.exists()


# --- SMTP ---------------------------------------------------------------------


@pytest.fixture
def relay() -> Iterator[ScriptedRelay]:
    with scripted_relay() as server:
        yield server


@pytest.fixture
def smtp(relay: ScriptedRelay) -> ProviderAccount:
    return relay_account(relay, slug="relay-main")


SMTP_REFUSALS = [
    ("MAIL", "553 5.7.1 <shop@example.com>: Sender address rejected", "sender"),
    ("MAIL", "550 5.7.1 Sender address rejected: not owned by user", "sender"),
    (
        "MAIL",
        "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
        "sender",
    ),
    (
        "RCPT",
        "553 5.7.1 <shop@example.com>: Sender address rejected: not owned by user",
        "sender",
    ),
    ("RCPT", "554 5.7.1 <ada@example.com>: Relay access denied", "relay"),
    ("RCPT", "550 5.7.1 Unable to relay for ada@example.com", "relay"),
    ("RCPT", "550 5.7.1 <ada@example.com>... Relaying denied", "relay"),
    (
        "RCPT",
        "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
        "relay",
    ),
]
SMTP_CODES = {"sender": "sender_not_verified", "relay": "sending_not_allowed"}


@pytest.mark.parametrize(("verb", "reply", "kind"), SMTP_REFUSALS)
def test_a_relay_refusing_our_sender_or_relaying_is_our_configuration(
    smtp, relay, caplog, verb, reply, kind
) -> None:
    relay.replies[verb] = reply
    with caplog.at_level(logging.ERROR), pytest.raises(NotProcessed) as info:
        get_adapter(smtp).send(sample_email(to=CUSTOMER))
    assert isinstance(info.value, ConfigurationError)
    assert info.value.code == SMTP_CODES[kind]
    assert info.value.provider_code == reply[:3]
    (record,) = error_records(caplog)
    assert record.account == smtp.slug
    assert CUSTOMER not in record.getMessage()
    assert CUSTOMER not in info.value.message


@pytest.mark.parametrize(
    ("verb", "reply", "error", "code"),
    [
        (
            "RCPT",
            "550 5.1.1 <ada@example.com>: Recipient address rejected",
            Rejected,
            "invalid_recipient",
        ),
        (
            "RCPT",
            "550 5.7.1 <ada@example.com>: Recipient address rejected: Access denied",
            Rejected,
            "invalid_recipient",
        ),
        (
            "MAIL",
            "451 4.3.0 Sender address rejected: try later",
            NotProcessed,
            "temporary_failure",
        ),
        (
            "MAIL",
            "552 5.3.4 Message size exceeds fixed limit",
            Rejected,
            "message_rejected",
        ),
    ],
    ids=["no-such-user", "recipient-policy", "temporary", "too-big"],
)
def test_other_relay_refusals_keep_their_reading(
    smtp, relay, verb, reply, error, code
) -> None:
    relay.replies[verb] = reply
    with pytest.raises(error) as info:
        get_adapter(smtp).send(sample_email(to=CUSTOMER))
    assert info.value.code == code


def test_a_relay_denying_us_fails_over_and_blames_nobody(smtp, relay) -> None:
    backup = ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    relay.replies["RCPT"] = "554 5.7.1 <ada@example.com>: Relay access denied"
    status, message = delivered()
    assert status == EmailStatus.SENT
    assert message.account == backup
    assert not Suppression.objects.exists()
