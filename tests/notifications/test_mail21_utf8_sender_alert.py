"""Our own sender with a UTF-8 local part needs the relay's SMTPUTF8. A
relay that offers none cannot send anything from that sender: our own
configuration, so staff are told once per account (an ERROR line naming the
account, never its credentials nor the addresses), not once per message;
each message is still ``unsupported_message`` and failed over. A UTF-8
recipient the relay cannot carry is not our setup: no alert."""

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from integrations.errors import ConfigurationError
from integrations.models import ProviderAccount
from integrations.registry import get_adapter
from notifications.models import EmailStatus
from notifications.providers import base
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast
from tests.notifications.scripted_relay import CUSTOMER, error_records
from tests.notifications.smtp_server import PASSWORD, USERNAME, FakeSmtpServer

pytestmark = pytest.mark.django_db

UTF8_SENDER = "tiënda@example.com"


@pytest.fixture(autouse=True)
def _fresh_alerts() -> Iterator[None]:
    # The alert is once per account and process: each test starts unalerted.
    base.setup_alerts_forget()
    yield
    base.setup_alerts_forget()


@pytest.fixture
def plain_relay() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer(smtputf8=False) as server:
        yield server


def _relay_account(relay: FakeSmtpServer, slug: str, priority: int = 1):
    return ProviderAccountFactory(
        kind="email",
        provider="smtp",
        slug=slug,
        priority=priority,
        credentials={"username": USERNAME, "password": PASSWORD},
        settings=fast(host="127.0.0.1", port=relay.port, security="none"),
    )


def _deliver(order: str) -> tuple[str, ProviderAccount | None]:
    message = email_message_create(
        to=CUSTOMER,
        template="order_confirmation",
        context={"order_id": order, "amount_display": "€10.50"},
        from_email=UTF8_SENDER,
        enqueue=False,
    )
    status = email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    return status, message.account


def _alert_texts(caplog) -> list[str]:
    return [f"{r.getMessage()} {vars(r)}" for r in error_records(caplog)]


def test_a_utf8_sender_the_relay_cannot_carry_is_alerted_once(
    plain_relay, caplog
) -> None:
    smtp = _relay_account(plain_relay, "relay-mail21")
    backup = ProviderAccountFactory(kind="email", slug="mail21-backup", priority=2)
    with caplog.at_level(logging.ERROR):
        sent = [_deliver(str(order)) for order in range(3)]
    # Every message still fails over: another provider carries it.
    assert sent == [(EmailStatus.SENT, backup)] * 3
    assert plain_relay.messages == []
    (record,) = error_records(caplog)
    assert record.account == smtp.slug
    assert "SMTPUTF8" in record.getMessage()
    (text,) = _alert_texts(caplog)
    for secret in (USERNAME, PASSWORD, UTF8_SENDER, CUSTOMER):
        assert secret not in text


def test_each_account_is_alerted_once(plain_relay, caplog) -> None:
    first = _relay_account(plain_relay, "relay-mail21-a", priority=1)
    second = _relay_account(plain_relay, "relay-mail21-b", priority=2)
    ProviderAccountFactory(kind="email", slug="mail21-backup", priority=3)
    with caplog.at_level(logging.ERROR):
        for order in range(2):
            assert _deliver(str(order))[0] == EmailStatus.SENT
    alerted = sorted(record.account for record in error_records(caplog))
    assert alerted == sorted([first.slug, second.slug])


def test_the_refusal_itself_is_unchanged(plain_relay) -> None:
    smtp = _relay_account(plain_relay, "relay-mail21")
    email = replace(sample_email(to=CUSTOMER), from_email=UTF8_SENDER)
    with pytest.raises(ConfigurationError) as info:
        get_adapter(smtp).send(email)
    assert info.value.code == "unsupported_message"


def test_a_utf8_recipient_the_relay_cannot_carry_is_not_alerted(
    plain_relay, caplog
) -> None:
    smtp = _relay_account(plain_relay, "relay-mail21")
    with caplog.at_level(logging.ERROR), pytest.raises(ConfigurationError) as info:
        get_adapter(smtp).send(sample_email(to="álvaro@example.com"))
    assert info.value.code == "unsupported_message"
    assert error_records(caplog) == []
