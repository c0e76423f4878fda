"""A relay that cannot take this message's UTF-8 addresses (RFC 6531) is not
the recipient's fault: 5.6.7 at MAIL FROM ("Non-ASCII addresses not
permitted for that sender/recipient"), the words "SMTPUTF8" / "non-ASCII"
with no enhanced code, or a relay offering no SMTPUTF8 at all. MAIL FROM
names no recipient; the recipient's address is a valid one this relay
cannot carry. It is ``unsupported_message`` (as a message a provider cannot
build): not retried on the account, not counted by its breaker, failed over
(another provider may support SMTPUTF8), the address never suppressed."""

import logging
from dataclasses import replace

import pytest

from integrations.breaker import breaker_for
from integrations.errors import ConfigurationError
from integrations.models import ProviderAccount, ProviderCall
from integrations.registry import get_adapter
from notifications.models import EmailMessage, EmailStatus, Suppression
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.scripted_relay import (
    CUSTOMER,
    ScriptedRelay,
    delivered,
    error_records,
    relay_account,
    scripted_relay,
    utf8_relay,  # noqa: F401 (the ``relay`` fixture)
)

pytestmark = pytest.mark.django_db

UTF8_CUSTOMER = "álvaro@example.com"
UTF8_SENDER = "tiënda@example.com"
SMTPUTF8_REFUSALS = [
    "553 5.6.7 Non-ASCII addresses not permitted for that sender/recipient",
    "550 5.6.7 SMTPUTF8 is not supported here",
    "553 sorry, non-ASCII addresses are not accepted",
]
IDS = ["553", "550", "words"]


@pytest.fixture
def smtp(relay: ScriptedRelay) -> ProviderAccount:
    account = relay_account(relay, slug="relay-mail20")
    # One counted failure would open the breaker.
    account.breaker_consecutive_failures = 1
    account.save()
    return account


def _refused(account: ProviderAccount, email) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        get_adapter(account).send(email)
    return info.value


@pytest.mark.parametrize("reply", SMTPUTF8_REFUSALS, ids=IDS)
def test_a_refused_smtputf8_at_mail_from_is_not_the_recipients(
    smtp, relay, caplog, reply
) -> None:
    relay.replies["MAIL"] = reply
    with caplog.at_level(logging.ERROR):
        error = _refused(smtp, sample_email(to=UTF8_CUSTOMER))
    assert error.code == "unsupported_message"
    assert error.provider_code == reply[:3]
    assert UTF8_CUSTOMER not in error.message
    # Not retried on the account: one call, and the breaker not counting it.
    assert ProviderCall.objects.filter(account=smtp).count() == 1
    assert not breaker_for(smtp).is_open()
    # Not staff's "fix the account" alert: the relay works for other mail.
    assert error_records(caplog) == []


def test_a_refused_smtputf8_for_our_sender_fails_over_too(smtp, relay) -> None:
    relay.replies["MAIL"] = SMTPUTF8_REFUSALS[0]
    email = replace(sample_email(to=CUSTOMER), from_email=UTF8_SENDER)
    assert _refused(smtp, email).code == "unsupported_message"


def _delivered() -> tuple[str, EmailMessage]:
    # The API takes a sender with a UTF-8 local part (its recipients are
    # ASCII: Django's validator), which needs the relay's SMTPUTF8.
    message = email_message_create(
        to=CUSTOMER,
        template="order_confirmation",
        context={"order_id": "1001", "amount_display": "€10.50"},
        from_email=UTF8_SENDER,
        enqueue=False,
    )
    status = email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    return status, message


def test_a_refused_smtputf8_is_failed_over_and_the_address_kept(smtp, relay) -> None:
    backup = ProviderAccountFactory(kind="email", slug="mail20-backup", priority=2)
    relay.replies["MAIL"] = SMTPUTF8_REFUSALS[0]
    status, message = _delivered()
    assert status == EmailStatus.SENT
    assert message.account == backup
    assert not Suppression.objects.exists()


def test_a_relay_without_smtputf8_fails_over_for_a_utf8_recipient() -> None:
    with scripted_relay(smtputf8=False) as plain:
        smtp = relay_account(plain, slug="relay-mail20-plain")
        error = _refused(smtp, sample_email(to=UTF8_CUSTOMER))
        assert error.code == "unsupported_message"
        backup = ProviderAccountFactory(kind="email", slug="mail20-backup", priority=2)
        status, message = _delivered()
    assert status == EmailStatus.SENT
    assert message.account == backup
    assert not Suppression.objects.exists()


def test_every_relay_refusing_fails_the_message_with_its_reason(smtp, relay) -> None:
    relay.replies["MAIL"] = SMTPUTF8_REFUSALS[0]
    status, message = _delivered()
    # Every account refused it for good: failed at once, not retried (mail41);
    # staff resend it once an account can carry it.
    assert status == EmailStatus.FAILED
    assert message.error_code == "unsupported_message"
    assert smtp.slug in message.last_error
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "reply", ["554 5.6.0 Message content rejected", "550 5.6.3 Conversion required"]
)
def test_a_content_refusal_at_mail_from_still_fails_the_message(
    smtp, relay, reply
) -> None:
    relay.replies["MAIL"] = reply
    status, message = delivered()
    assert status == EmailStatus.FAILED
    assert message.error_code == "message_rejected"
