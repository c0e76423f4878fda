"""The SMTP relay adapter's sender: a display name in any script goes out
encoded once by Django, a line break or a second mailbox is refused, and a
message that cannot be built fails definitely (nothing reached the relay),
never ``unknown``."""

from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest

from integrations.errors import Rejected
from integrations.models import ProviderAccount
from integrations.registry import get_adapter
from notifications.models import EmailMessage
from notifications.services import email_message_create
from notifications.services.failures import public_error
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast
from tests.notifications.smtp_server import PASSWORD, USERNAME, FakeSmtpServer

pytestmark = pytest.mark.django_db

NAME = "Buchhandlung Müller – Bücher, Zeitschriften & Landkarten"  # noqa: RUF001
ORDER = {"order_id": "1001", "amount_display": "€10.50"}


@pytest.fixture
def relay() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer(hang_limit=3) as server:
        yield server


@pytest.fixture
def smtp(relay: FakeSmtpServer) -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="smtp",
        credentials={"username": USERNAME, "password": PASSWORD},
        settings=fast(host="127.0.0.1", port=relay.port, security="none"),
    )


def _delivered(settings, from_email: str) -> EmailMessage:
    # The operator's sender, as settings document it (config/domains.py).
    settings.EMAIL_DEFAULT_FROM = from_email
    message = email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context=ORDER,
        enqueue=False,
    )
    email_message_deliver(message_pk=message.pk)
    return EmailMessage.objects.get(pk=message.pk)


@pytest.mark.parametrize(
    "name,domain",
    [
        (NAME, "example.com"),
        (NAME, "straße.de"),
        ("株式会社サンプル書店 カスタマーサービス", "example.com"),
        ("Интернет-магазин Книги и журналы", "example.com"),
    ],
)
def test_a_long_non_ascii_sender_name_still_goes_out(smtp, relay, name, domain) -> None:
    # Django folds a long encoded name; handed back to Django folded, it
    # refused the header (BadHeaderError) and nothing was sent.
    get_adapter(smtp).send(sample_email(from_email=f'"{name}" <shop@{domain}>'))
    (received,) = relay.messages
    sent = message_from_bytes(received.data)["From"]
    assert str(make_header(decode_header(sent))).startswith(name)
    assert received.sender.startswith("FROM:<shop@")


def test_a_long_non_ascii_sender_name_is_not_an_unknown_message(
    smtp, relay, settings
) -> None:
    message = _delivered(
        settings, "株式会社サンプル書店 カスタマーサービス <shop@example.jp>"
    )
    assert message.status == "sent", (message.status, message.error_code)
    assert len(relay.messages) == 1


def test_a_crlf_in_the_sender_name_is_refused_not_a_second_from(smtp, relay) -> None:
    # Django refuses a header value with CR/LF; the injected line became
    # another From mailbox (and the envelope sender) instead.
    with pytest.raises(Rejected) as info:
        get_adapter(smtp).send(
            sample_email(from_email="Shöp\r\nBcc: x@evil.example <shop@straße.de>")
        )
    assert info.value.code == "invalid_sender"
    assert "line break" in info.value.message
    assert relay.messages == []


@pytest.mark.parametrize(
    "from_email", ["shop@example.com, x@evil.example", "Shöp <a@b.de>, x@evil.de"]
)
def test_a_from_of_more_than_one_mailbox_is_refused(smtp, relay, from_email) -> None:
    with pytest.raises(Rejected) as info:
        get_adapter(smtp).send(sample_email(from_email=from_email))
    assert info.value.code == "invalid_sender"
    assert relay.messages == []


def test_a_crlf_in_reply_to_is_refused(smtp, relay) -> None:
    with pytest.raises(Rejected) as info:
        get_adapter(smtp).send(sample_email(reply_to="a@b.de\r\nBcc: x@evil.de"))
    assert info.value.code == "invalid_sender"
    assert relay.messages == []


def test_a_sender_domain_with_no_ascii_form_fails_definitely_not_unknown(
    smtp, relay, settings
) -> None:
    # idn_ascii refuses it; left to Django, its IDNA 2003 raised UnicodeError
    # before any connection, yet the message was 'unknown' (never resent).
    message = _delivered(settings, "Shöp <shop@straße..de>")
    assert relay.messages == []
    assert message.status == "failed", (message.status, message.error_code)
    assert message.error_code == "invalid_sender"
    assert "no ASCII form" in message.last_error
    assert public_error(message).startswith("The sender address cannot be used")


def test_a_header_django_refuses_while_building_is_a_definite_failure(
    smtp, relay
) -> None:
    # Refused before Django builds it now, as by every adapter
    # (EmailAdapter.send's header_check): still before any connection.
    with pytest.raises(Rejected) as info:
        get_adapter(smtp).send(sample_email(headers={"X-Note": "a\r\nBcc: x@e.de"}))
    assert info.value.code == "invalid_header"
    assert "line break" in info.value.message
    assert relay.messages == []
