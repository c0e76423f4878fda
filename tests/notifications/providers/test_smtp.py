"""The SMTP relay adapter over real sockets (a fake relay on 127.0.0.1,
tests/notifications/smtp_server.py): the message as sent, and each relay
reply or failure classified by when it happened."""

from collections.abc import Iterator
from email import message_from_bytes

import pytest
from django.test import Client

from integrations.errors import ConfigurationError, NotProcessed, Rejected, Unknown
from integrations.models import ProviderAccount, ProviderCall
from integrations.registry import get_adapter
from notifications.models import ascii_address
from notifications.providers.base import (
    INVALID_RECIPIENT,
    MESSAGE_ID_HEADER,
    idn_ascii,
)
from notifications.providers.smtp import wire_address
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast
from tests.notifications.smtp_server import PASSWORD, USERNAME, FakeSmtpServer

pytestmark = pytest.mark.django_db


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


def _send(account: ProviderAccount, **changes):
    return get_adapter(account).send(sample_email(**changes))


def test_message_reaches_the_relay_with_our_headers(smtp, relay) -> None:
    headers = {"List-Unsubscribe": "<https://shop.example/u/1>"}
    result = _send(smtp, headers=headers, reply_to="help@example.com")
    (received,) = relay.messages
    assert received.recipients == ["ada@example.com"]
    mime = message_from_bytes(received.data)
    assert mime["Message-ID"].strip("<>") == result.provider_message_id
    assert result.provider_message_id.endswith("@example.com")
    assert mime[MESSAGE_ID_HEADER] == "eml_contract0001"
    assert mime["List-Unsubscribe"] == "<https://shop.example/u/1>"
    assert mime["Reply-To"] == "help@example.com"
    types = [part.get_content_type() for part in mime.walk()]
    assert "text/plain" in types and "text/html" in types
    call = ProviderCall.objects.filter(account=smtp).latest("pk")
    assert (call.operation, call.outcome, call.attempts) == ("send_email", "success", 1)


def test_relay_without_login(relay) -> None:
    account = ProviderAccountFactory(
        kind="email",
        provider="smtp",
        credentials={},
        settings=fast(host="127.0.0.1", port=relay.port, security="none"),
    )
    assert _send(account).provider_message_id
    assert len(relay.messages) == 1


@pytest.mark.parametrize(
    ("to", "error", "code"),
    [
        ("invalid@example.com", Rejected, INVALID_RECIPIENT),
        ("full@example.com", NotProcessed, "temporary_failure"),
        ("ratelimited@example.com", NotProcessed, "temporary_failure"),
        ("unavailable@example.com", NotProcessed, "temporary_failure"),
        ("rejected@example.com", Rejected, "message_rejected"),
    ],
)
def test_relay_replies_are_classified(smtp, relay, to, error, code) -> None:
    with pytest.raises(error) as info:
        _send(smtp, to=to)
    assert info.value.code == code
    if error is NotProcessed:
        assert info.value.retry_after == 60.0
    assert relay.messages == []


@pytest.mark.parametrize("to", ["ada@i❤.ws", "ada@bücher.de", "ada@faß.i❤.ws"])
def test_an_idn_recipient_goes_out_in_the_xn_form_through_the_relay(
    smtp, relay, to
) -> None:
    # The relay offers no SMTPUTF8: smtplib refused a Unicode domain before
    # MAIL FROM, and that was classified unknown (never resent nor failed).
    try:
        _send(smtp, to=to)
    except Unknown as exc:
        assert relay.messages, f"never sent, but classified unknown: {exc}"
        raise
    (received,) = relay.messages
    expected = f"ada@{idn_ascii(to.partition('@')[2])}"
    assert received.recipients == [expected]
    assert message_from_bytes(received.data)["To"] == expected


def test_our_idn_sending_domain_goes_out_in_its_idna_2008_form(smtp, relay) -> None:
    # IDNA 2003 (Django's own encoding of address headers) maps ß to ss:
    # strasse.de is another domain than the sending domain xn--strae-oqa.de.
    _send(
        smtp,
        from_email="Straße Shop <shop@straße.de>",
        reply_to="help@straße.de",
        headers={"Sender": "bounce@straße.de"},
    )
    (received,) = relay.messages
    assert received.sender.startswith("FROM:<shop@xn--strae-oqa.de>")
    mime = message_from_bytes(received.data)
    assert mime["From"].endswith(" <shop@xn--strae-oqa.de>")
    assert mime["Reply-To"] == "help@xn--strae-oqa.de"
    assert mime["Sender"] == "bounce@xn--strae-oqa.de"
    assert mime["Message-ID"].endswith("@xn--strae-oqa.de>")


@pytest.mark.parametrize(
    "address", ["Ada@Bücher.DE", "Ada@I❤.ws", "José@faß.i❤.ws", "Ada@Example.COM"]
)
def test_the_relay_gets_the_address_our_suppressions_key_in_its_case(
    address,
) -> None:
    # One domain step (idn_address) for the key and the wire: they differ
    # only in that the wire keeps the local part's case.
    assert wire_address(address).lower() == ascii_address(address)
    assert wire_address(address).partition("@")[0] == address.partition("@")[0]


def test_a_non_ascii_local_part_without_smtputf8_is_unsupported_here(
    smtp, relay
) -> None:
    # The relay cannot carry it; another provider may (test_mail20_smtputf8).
    with pytest.raises(ConfigurationError) as info:
        _send(smtp, to="josé@bücher.de")
    assert info.value.code == "unsupported_message"
    assert relay.messages == []
    call = ProviderCall.objects.filter(account=smtp).latest("pk")
    assert call.outcome == "not_processed"


def test_a_non_ascii_local_part_goes_out_over_smtputf8() -> None:
    with FakeSmtpServer(smtputf8=True) as relay:
        account = ProviderAccountFactory(
            kind="email",
            provider="smtp",
            credentials={},
            settings=fast(host="127.0.0.1", port=relay.port, security="none"),
        )
        _send(account, to="josé@bücher.de")
    (received,) = relay.messages
    assert received.recipients == ["josé@xn--bcher-kva.de"]


def test_wrong_password_is_not_processed(smtp) -> None:
    smtp.set_credentials({"username": USERNAME, "password": "wrong"})
    smtp.save()
    with pytest.raises(NotProcessed) as info:
        _send(smtp)
    assert info.value.code == "authentication_failed"
    assert "wrong" not in str(info.value)


def test_refused_connection_is_not_processed(smtp, refused_url) -> None:
    smtp.settings["port"] = int(refused_url.rpartition(":")[2])
    smtp.save(update_fields=["settings"])
    with pytest.raises(NotProcessed) as info:
        _send(smtp)
    assert info.value.code == "connection_refused"


def test_relay_silent_after_data_is_unknown_and_not_resent(smtp, relay) -> None:
    smtp.settings["max_attempts"] = 3
    smtp.save(update_fields=["settings"])
    with pytest.raises(Unknown) as info:
        _send(smtp, to="hang@example.com")
    assert info.value.code == "read_timeout"
    call = ProviderCall.objects.filter(account=smtp).latest("pk")
    assert (call.outcome, call.attempts) == ("unknown", 1)


def test_missing_host_sends_nothing() -> None:
    account = ProviderAccountFactory(
        kind="email", provider="smtp", credentials={}, settings=fast()
    )
    with pytest.raises(ConfigurationError) as info:
        _send(account)
    assert info.value.code == "missing_settings"


def test_health_check_says_noop(smtp) -> None:
    assert get_adapter(smtp).health_check().ok


def test_smtp_accounts_take_no_webhooks(smtp) -> None:
    response = Client().post(
        f"/webhooks/{smtp.slug}/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "webhooks_not_supported"
