"""Review of mail20's ``unsupported_message``: a message every account
refuses to carry (a relay without SMTPUTF8 for its UTF-8 sender) is not
tried for ever: it is ``failed`` at once (mail41: a refusal for good, no
later try would send it), its reason and the relay's words kept for staff,
the storefront told in our own words, the breaker never counting it and the
address never suppressed."""

import logging

import pytest
from django.test import override_settings

from integrations.breaker import breaker_for
from integrations.models import ProviderAccount
from notifications.models import EmailMessage, EmailStatus, Suppression
from notifications.services import email_message_create
from notifications.services.failures import public_error
from notifications.services.sending import email_message_deliver
from tests.notifications.scripted_relay import (
    CUSTOMER,
    ScriptedRelay,
    error_records,
    relay_account,
    utf8_relay,  # noqa: F401 (the ``relay`` fixture)
)

pytestmark = pytest.mark.django_db

REFUSAL = "553 5.6.7 Non-ASCII addresses not permitted for that sender/recipient"


@pytest.fixture
def smtp(relay: ScriptedRelay) -> ProviderAccount:
    account = relay_account(relay, slug="relay-revmail20")
    # One counted failure would open the breaker.
    account.breaker_consecutive_failures = 1
    account.save()
    relay.replies["MAIL"] = REFUSAL
    return account


def _message() -> EmailMessage:
    return email_message_create(
        to=CUSTOMER,
        template="order_confirmation",
        context={"order_id": "1001", "amount_display": "€10.50"},
        from_email="tiënda@example.com",
        enqueue=False,
    )


@override_settings(EMAIL_MAX_ATTEMPTS=3)
def test_it_fails_at_once_with_its_reason_kept(smtp, caplog) -> None:
    message = _message()
    with caplog.at_level(logging.ERROR):
        statuses = [email_message_deliver(message_pk=message.pk) for _ in range(2)]
    assert statuses == [EmailStatus.FAILED, EmailStatus.FAILED]
    message.refresh_from_db()
    assert message.attempts == 1
    assert message.error_code == "unsupported_message"
    assert smtp.slug in message.last_error
    assert "SMTPUTF8" in message.last_error
    (failed,) = message.events.filter(type=EmailStatus.FAILED)
    assert failed.details["code"] == "unsupported_message"
    # Our words for the storefront, not the relay's reply.
    told = public_error(message)
    assert told and "5.6.7" not in told and "SMTPUTF8" in told
    assert not breaker_for(smtp).is_open()
    assert error_records(caplog) == []
    assert not Suppression.objects.exists()


def test_the_storefront_is_told_why(smtp) -> None:
    message = _message()
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED
    message.refresh_from_db()
    assert "SMTPUTF8" in public_error(message)
