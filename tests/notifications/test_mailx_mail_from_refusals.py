"""A relay's 5xx at MAIL FROM is read by its enhanced status code (RFC 3463)
and its own words, not all as "our sender refused":

- an IP (or domain) blocklist (5.7.1 "blocked using zen.spamhaus.org",
  Microsoft's 5.7.606 "banned sending IP") is ``sending_blocked``: our
  sending server's reputation, failed over, staff told to get it delisted,
  the customer not blamed; at RCPT too, where Postfix delays it;
- a bad sender (5.1.7 syntax, 5.1.8 the sender's domain) stays
  ``sender_not_verified``;
- any other policy refusal (5.7.x) is ``sending_not_allowed``;
- a refused SMTPUTF8 (5.6.7, "non-ASCII") is the relay unable to carry
  the message's UTF-8 addresses, as when it does not offer SMTPUTF8 at all:
  ``unsupported_message``, failed over, never the recipient's
  (test_mail20_smtputf8.py); a refused content (other 5.6.x) is the
  message's (``message_rejected``), neither retried nor failed over.
"""

import logging
from dataclasses import replace

import pytest

from integrations.errors import ConfigurationError, NotProcessed, Rejected
from integrations.models import ProviderAccount, ProviderCall
from integrations.registry import get_adapter
from notifications.models import EmailStatus, Suppression
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.scripted_relay import (
    CUSTOMER,
    ScriptedRelay,
    delivered,
    error_records,
    relay_account,
    utf8_relay,  # noqa: F401 (the ``relay`` fixture)
)

pytestmark = pytest.mark.django_db

UTF8_CUSTOMER = "álvaro@example.com"


@pytest.fixture
def smtp(relay: ScriptedRelay) -> ProviderAccount:
    return relay_account(relay, slug="relay-mailx")


def _send(account: ProviderAccount, to: str = CUSTOMER) -> None:
    get_adapter(account).send(sample_email(to=to))


BLOCKLISTS = [
    (
        "MAIL",
        "550 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using "
        "zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.7",
    ),
    ("MAIL", "553 5.7.1 Your IP address 203.0.113.7 is listed on a DNSBL"),
    ("MAIL", "550 5.7.606 Access denied, banned sending IP [203.0.113.7]"),
    ("MAIL", "554 5.7.1 Client host rejected: blacklisted"),
    # Postfix's default (smtpd_delay_reject) answers a client blocklist at RCPT.
    (
        "RCPT",
        "554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using "
        "bl.spamcop.net",
    ),
]
BLOCKLIST_IDS = ["spamhaus", "dnsbl", "ms-banned-ip", "554-blacklisted", "rcpt"]


@pytest.mark.parametrize(("verb", "reply"), BLOCKLISTS, ids=BLOCKLIST_IDS)
def test_a_blocklisted_ip_is_sending_blocked(smtp, relay, caplog, verb, reply) -> None:
    relay.replies[verb] = reply
    with caplog.at_level(logging.ERROR), pytest.raises(NotProcessed) as info:
        _send(smtp)
    assert isinstance(info.value, ConfigurationError)
    assert info.value.code == "sending_blocked"
    assert info.value.provider_code == reply[:3]
    call = ProviderCall.objects.filter(account=smtp).latest("pk")
    assert (call.outcome, call.error_code) == ("not_processed", "sending_blocked")
    assert call.attempts == 1  # the same relay will say the same: not retried
    (record,) = error_records(caplog)
    assert record.account == smtp.slug
    assert "blocklist" in record.getMessage()
    assert "verify" not in record.getMessage()
    assert CUSTOMER not in record.getMessage() + info.value.message


def test_a_blocklisted_relay_fails_over_and_blames_nobody(smtp, relay) -> None:
    backup = ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    relay.replies["MAIL"] = "550 5.7.1 Client host [203.0.113.7] blocked using zen"
    status, message = delivered()
    assert status == EmailStatus.SENT
    assert message.account == backup
    assert not Suppression.objects.exists()


def test_with_no_other_account_the_message_waits_saying_blocklisted(
    smtp, relay
) -> None:
    relay.replies["MAIL"] = "550 5.7.1 Client host [203.0.113.7] blocked using zen"
    status, message = delivered()
    assert status == EmailStatus.QUEUED
    assert message.error_code == "sending_blocked"
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("553 5.1.7 Bad sender address syntax", "sender_not_verified"),
        ("550 5.1.8 Sender domain does not resolve", "sender_not_verified"),
        ("550 5.7.1 Access denied", "sending_not_allowed"),
        ("550 5.7.23 SPF validation failed for this host", "sending_not_allowed"),
        # No enhanced code and no words: MAIL FROM names only our sender.
        ("553 mailbox name not allowed", "sender_not_verified"),
    ],
    ids=["5.1.7", "5.1.8", "5.7.1-policy", "5.7.23-spf", "bare-553"],
)
def test_sender_and_policy_refusals_are_our_configuration(
    smtp, relay, caplog, reply, code
) -> None:
    relay.replies["MAIL"] = reply
    with caplog.at_level(logging.ERROR), pytest.raises(ConfigurationError) as info:
        _send(smtp)
    assert info.value.code == code
    assert info.value.provider_code == reply[:3]
    (record,) = error_records(caplog)
    assert record.account == smtp.slug


SMTPUTF8_REFUSALS = [
    "553 5.6.7 Non-ASCII addresses not permitted for that sender",
    "550 5.6.7 SMTPUTF8 is not supported here",
    # No enhanced code: the relay's words say it.
    "553 sorry, non-ASCII addresses are not accepted",
]


@pytest.mark.parametrize("reply", SMTPUTF8_REFUSALS, ids=["553", "550", "words"])
def test_a_refused_smtputf8_is_not_the_recipients(smtp, relay, caplog, reply) -> None:
    relay.replies["MAIL"] = reply
    with caplog.at_level(logging.ERROR), pytest.raises(ConfigurationError) as info:
        _send(smtp, to=UTF8_CUSTOMER)
    assert info.value.code == "unsupported_message"
    assert info.value.provider_code == reply[:3]
    # Not the account's setup: no "fix the account" alert.
    assert error_records(caplog) == []


def test_a_refused_smtputf8_for_our_sender_is_unsupported(smtp, relay) -> None:
    relay.replies["MAIL"] = SMTPUTF8_REFUSALS[0]
    email = replace(sample_email(to=CUSTOMER), from_email="tiënda@example.com")
    with pytest.raises(ConfigurationError) as info:
        get_adapter(smtp).send(email)
    assert info.value.code == "unsupported_message"


@pytest.mark.parametrize(
    "reply",
    [
        "554 5.6.0 Message content rejected",
        "550 5.6.3 Conversion required and prohibited",
    ],
    ids=["5.6.0", "5.6.3"],
)
def test_a_content_refusal_at_mail_from_is_the_messages(
    smtp, relay, caplog, reply
) -> None:
    relay.replies["MAIL"] = reply
    with caplog.at_level(logging.ERROR), pytest.raises(Rejected) as info:
        _send(smtp)
    assert not isinstance(info.value, NotProcessed)
    assert info.value.code == "message_rejected"
    assert error_records(caplog) == []


def test_a_content_refusal_is_not_failed_over(smtp, relay) -> None:
    # Another account would be handed the same message: it fails here.
    ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    relay.replies["MAIL"] = "550 5.6.3 Conversion required and prohibited"
    status, message = delivered()
    assert status == EmailStatus.FAILED
    assert message.account == smtp
    assert message.error_code == "message_rejected"
    assert not Suppression.objects.exists()


def test_a_listed_link_after_data_stays_the_messages(smtp, relay, caplog) -> None:
    # After DATA the words are about the content (a link on a domain list).
    relay.replies["DATA"] = "554 5.7.1 Rejected: a URL in it is listed on Spamhaus"
    with caplog.at_level(logging.ERROR), pytest.raises(Rejected) as info:
        _send(smtp)
    assert not isinstance(info.value, NotProcessed)
    assert info.value.code == "message_rejected"
    assert error_records(caplog) == []


def test_a_recipient_quoting_blocklist_words_is_still_refused(smtp, relay) -> None:
    to = '"blocked using spamhaus"@example.com'
    relay.replies["RCPT"] = f"550 5.1.1 <{to}>: Recipient address rejected"
    with pytest.raises(Rejected) as info:
        _send(smtp, to=to)
    assert not isinstance(info.value, NotProcessed)
    assert info.value.code == "invalid_recipient"
