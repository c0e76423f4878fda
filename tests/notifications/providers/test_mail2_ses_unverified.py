"""Amazon SES "Email address is not verified" (MessageRejected): SES names
the identities that failed ("The following identities failed the check in
region REGION: identity1, identity2", SES Developer Guide, "Amazon SES
email sending errors"). An unverified sender (From, Sender, Return-Path; a
sandbox account's or an unverified From identity) is our configuration:
another account may send, staff are told, the customer's address is not
blamed. Only an unverified recipient (the SES sandbox) is a recipient
refusal. Over a local fault server, as test_amazon_ses.py."""

import logging

import pytest

from integrations.errors import NotProcessed, Rejected
from integrations.models import ProviderAccount, ProviderCall
from integrations.registry import get_adapter
from integrations.testing.faultserver import FaultServer, respond
from notifications.models import EmailStatus
from notifications.providers.amazon_ses import AmazonSesAdapter
from notifications.providers.base import INVALID_RECIPIENT
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

SEND = "/v2/email/outbound-emails"
NOT_VERIFIED = (
    "Email address is not verified. The following identities failed the "
    "check in region EU-WEST-1: "
)
ORDER = {"order_id": "1001", "amount_display": "€10.50"}


@pytest.fixture
def ses(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    urls = {"test": fault.url, "live": fault.url}
    monkeypatch.setattr(AmazonSesAdapter, "endpoint_urls", urls)
    return ProviderAccountFactory(
        kind="email",
        provider="amazon_ses",
        priority=1,
        credentials={
            "access_key_id": "AKIAFAULTSERVERTEST",
            "secret_access_key": "secret-not-logged",
        },
        settings=fast(region="eu-west-1"),
    )


def _rejected(identities: str) -> object:
    return respond(
        400,
        json={"message": NOT_VERIFIED + identities},
        headers={"x-amzn-ErrorType": "MessageRejected:http://internal.amazon.com/"},
    )


def _send(account: ProviderAccount, **changes):
    return get_adapter(account).send(sample_email(**changes))


@pytest.mark.parametrize(
    "identities",
    [
        "shop@example.com",
        "Shop <shop@example.com>, shop@example.com",
        "SHOP@Example.com",
        # A sandbox account with an unverified From: both are named.
        "shop@example.com, ada@example.com",
        "example.com",
    ],
)
def test_an_unverified_sender_is_our_configuration(ses, fault, identities) -> None:
    fault.route("POST", SEND, _rejected(identities))
    with pytest.raises(NotProcessed) as info:
        _send(ses)
    assert info.value.code == "sender_not_verified"
    assert info.value.provider_code == "MessageRejected"
    call = ProviderCall.objects.filter(account=ses).latest("pk")
    assert (call.outcome, call.error_code) == ("not_processed", "sender_not_verified")
    # Retrying the same account cannot verify the sender.
    assert len(fault.requests_for("POST", SEND)) == 1


def test_an_unverified_recipient_in_the_sandbox_is_a_recipient_refusal(
    ses, fault
) -> None:
    fault.route("POST", SEND, _rejected("ada@example.com"))
    with pytest.raises(Rejected) as info:
        _send(ses)
    assert info.value.code == INVALID_RECIPIENT


def test_an_unverified_address_that_is_neither_blames_no_recipient(ses, fault) -> None:
    # A Return-Path or Sender identity we did not set, or a list we cannot
    # read: the customer's address is not the one SES named.
    fault.route("POST", SEND, _rejected("bounces@other.example"))
    with pytest.raises(NotProcessed) as info:
        _send(ses)
    assert info.value.code == "sender_not_verified"


def test_staff_are_alerted_without_the_addresses(ses, fault, caplog) -> None:
    fault.route("POST", SEND, _rejected("shop@example.com"))
    with caplog.at_level(logging.ERROR), pytest.raises(NotProcessed):
        _send(ses)
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.account == ses.slug
    assert "shop@example.com" not in record.getMessage()


def test_the_message_fails_over_and_is_not_failed_as_a_bad_address(ses, fault) -> None:
    backup = ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    fault.route("POST", SEND, _rejected("shop@example.com"))
    message = email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context=ORDER,
        from_email="shop@example.com",
        enqueue=False,
    )
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.SENT
    message.refresh_from_db()
    assert message.account == backup
    assert message.error_code == ""


def test_with_no_other_account_the_message_waits_not_fails(ses, fault) -> None:
    fault.route("POST", SEND, _rejected("shop@example.com"))
    message = email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context=ORDER,
        from_email="shop@example.com",
        enqueue=False,
    )
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.QUEUED
    message.refresh_from_db()
    # Tried again later (staff fix the identity), never failed as the
    # customer's bad address; the reason kept is the unverified sender
    # (test_mail4_config_reasons.py).
    assert message.error_code == "sender_not_verified"


def test_mail_to_our_own_unverified_sender_is_still_our_configuration(
    ses, fault
) -> None:
    # The shop mailing itself: the address SES names is the recipient too,
    # but it is our sender that is not verified.
    fault.route("POST", SEND, _rejected("shop@example.com"))
    with pytest.raises(NotProcessed) as info:
        _send(ses, to="shop@example.com")
    assert info.value.code == "sender_not_verified"
