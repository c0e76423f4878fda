"""SendGrid sends over real sockets (a local fault server standing in for
api.sendgrid.com): the documented request, the answer read, every error
classified into the email outcomes, and the anymail backend built from the
account alone. Anymail no longer tests SendGrid live, so these are thorough.
Error bodies: tests/fixtures/sendgrid/errors.json (README there)."""

import json
import logging
from pathlib import Path

import pytest
from anymail.exceptions import AnymailAPIError, AnymailUnsupportedFeature
from django.db import connection

from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    Paced,
    Rejected,
    Unknown,
)
from integrations.models import ProviderAccount, ProviderCall
from integrations.registry import get_adapter
from integrations.testing.faultserver import FaultServer, reset, respond
from notifications.providers.base import (
    INVALID_RECIPIENT,
    MESSAGE_ID_HEADER,
    EmailCategory,
    SendStatus,
)
from notifications.providers.sendgrid import SendGridAdapter
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sendgrid"
ERRORS = json.loads((FIXTURES / "errors.json").read_text())
SEND = "/v3/mail/send"
API_KEY = "SG.account-key-0123456789"


@pytest.fixture
def sendgrid(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    url = fault.url + "/v3/"
    monkeypatch.setattr(SendGridAdapter, "api_urls", {"test": url, "live": url})
    return ProviderAccountFactory(
        kind="email",
        provider="sendgrid",
        credentials={"api_key": API_KEY},
        settings=fast(),
    )


def _send(account: ProviderAccount, **changes):
    return get_adapter(account).send(sample_email(**changes))


def _last_call(account: ProviderAccount) -> ProviderCall:
    return ProviderCall.objects.filter(account=account).latest("pk")


def test_send_posts_the_documented_body(sendgrid, fault) -> None:
    fault.route("POST", SEND, respond(202, body=b"", headers={"X-Message-Id": "abc"}))
    result = _send(
        sendgrid,
        reply_to="help@example.com",
        headers={"List-Unsubscribe": "<https://shop.example/u/1>"},
    )
    (request,) = fault.requests_for("POST", SEND)
    assert request.header("Authorization") == f"Bearer {API_KEY}"
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Correlation-ID")  # the client's session sent it
    body = request.json()
    (personalization,) = body["personalizations"]
    assert personalization["to"] == [{"email": "ada@example.com"}]
    # Metadata travels as the message's custom_args; SendGrid echoes them.
    assert body["custom_args"] == {"message_id": "eml_contract0001", "order_id": "1001"}
    assert body["from"] == {"email": "shop@example.com"}
    assert body["reply_to_list"] == [{"email": "help@example.com"}]
    assert body["subject"] == "Your order 1001"
    assert body["content"] == [
        {"type": "text/plain", "value": "Thanks for your order."},
        {"type": "text/html", "value": "<p>Thanks for your order.</p>"},
    ]
    assert body["categories"] == ["order_confirmation"]
    assert body["headers"][MESSAGE_ID_HEADER] == "eml_contract0001"
    assert body["headers"]["List-Unsubscribe"] == "<https://shop.example/u/1>"
    # Our provider message id is anymail's id, which every event echoes.
    assert result.provider_message_id == personalization["custom_args"]["anymail_id"]
    assert result.status == SendStatus.QUEUED


def test_send_is_one_successful_call_row(sendgrid, fault) -> None:
    fault.route("POST", SEND, respond(202, body=b""))
    _send(sendgrid)
    call = _last_call(sendgrid)
    assert (call.operation, call.outcome) == ("send_email", "success")
    assert (call.http_status, call.attempts) == (202, 1)


def test_marketing_message_keeps_its_unsubscribe_headers(sendgrid, fault) -> None:
    fault.route("POST", SEND, respond(202, body=b""))
    headers = {
        "List-Unsubscribe": "<https://shop.example/u/1>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    _send(sendgrid, category=EmailCategory.MARKETING, headers=headers)
    sent = fault.requests_for("POST", SEND)[0].json()["headers"]
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (400, ERRORS["invalid_recipient"], Rejected, INVALID_RECIPIENT),
        # SendGrid answers it at 403 (Twilio error 60222): our configuration.
        (403, ERRORS["from_not_verified"], NotProcessed, "sender_not_verified"),
        (401, ERRORS["unauthorized"], NotProcessed, "authentication_failed"),
        (403, ERRORS["forbidden"], NotProcessed, "permission_denied"),
        (413, ERRORS["payload_too_large"], Rejected, "client_error"),
        (500, ERRORS["server_error"], NotProcessed, "server_error"),
        (502, {}, NotProcessed, "server_error"),
        (503, {}, NotProcessed, "server_error"),
    ],
)
def test_error_answers_are_classified(
    sendgrid, fault, status, body, error, code
) -> None:
    fault.route("POST", SEND, respond(status, json=body))
    with pytest.raises(error) as info:
        _send(sendgrid)
    assert info.value.code == code
    assert info.value.http_status == status
    call = _last_call(sendgrid)
    assert (call.outcome, call.error_code) == (str(info.value.outcome), code)


def test_429_is_not_processed_with_retry_after(sendgrid, fault) -> None:
    fault.route(
        "POST",
        SEND,
        respond(429, json=ERRORS["rate_limited"], headers={"Retry-After": "7"}),
    )
    with pytest.raises(NotProcessed) as info:
        _send(sendgrid)
    assert (info.value.code, info.value.retry_after) == ("too_many_requests", 7.0)


def test_refused_connection_is_not_processed(sendgrid, refused_url, monkeypatch):
    # Anymail raises its own error class around requests' ConnectionError;
    # unwrapped, the refusal fails over instead of reading as "unknown".
    url = refused_url + "/v3/"
    monkeypatch.setattr(SendGridAdapter, "api_urls", {"test": url, "live": url})
    with pytest.raises(NotProcessed) as info:
        _send(sendgrid)
    assert info.value.code == "connection_refused"
    assert _last_call(sendgrid).outcome == "not_processed"


def test_read_timeout_is_unknown_and_never_resent(sendgrid, fault) -> None:
    sendgrid.settings["max_attempts"] = 3
    sendgrid.save(update_fields=["settings"])
    fault.route("POST", SEND, respond(202, body=b"", latency=1.0))
    with pytest.raises(Unknown) as info:
        _send(sendgrid)
    assert info.value.code == "read_timeout"
    assert len(fault.requests_for("POST", SEND)) == 1


def test_connection_reset_after_sending_is_unknown(sendgrid, fault) -> None:
    fault.route("POST", SEND, reset())
    with pytest.raises(Unknown) as info:
        _send(sendgrid)
    assert info.value.code == "connection_reset"


def test_server_error_is_retried_when_attempts_allow(sendgrid, fault) -> None:
    # A 5xx queued nothing, so resending is safe (not so after a timeout).
    sendgrid.settings.update(max_attempts=2, backoff_base_seconds=0.01)
    sendgrid.save(update_fields=["settings"])
    fault.route("POST", SEND, respond(503), respond(202, body=b""))
    assert _send(sendgrid).provider_message_id
    assert len(fault.requests_for("POST", SEND)) == 2


def test_paced_send_waits_out_a_429(sendgrid, fault) -> None:
    fault.route(
        "POST",
        SEND,
        respond(429, headers={"Retry-After": "0"}),
        respond(202, body=b""),
    )
    adapter = get_adapter(sendgrid)
    result = adapter.send(sample_email(), pacing=True, max_wait=5)
    assert result.provider_message_id
    assert len(fault.requests_for("POST", SEND)) == 2


def test_paced_send_gives_up_as_paced(sendgrid, fault) -> None:
    fault.route("POST", SEND, respond(429, headers={"Retry-After": "30"}))
    with pytest.raises(Paced):
        get_adapter(sendgrid).send(sample_email(), pacing=True, max_wait=1)


def test_missing_api_key_sends_nothing(fault, monkeypatch) -> None:
    url = fault.url + "/v3/"
    monkeypatch.setattr(SendGridAdapter, "api_urls", {"test": url, "live": url})
    account = ProviderAccountFactory(
        kind="email", provider="sendgrid", credentials={}, settings=fast()
    )
    with pytest.raises(ConfigurationError) as info:
        _send(account)
    assert info.value.code == "missing_credentials"
    assert fault.requests == []


def test_django_settings_cannot_configure_the_backend(
    sendgrid, fault, settings, capsys
) -> None:
    # Credentials come from the account; an ANYMAIL setting must not supply
    # a key, redirect the request, add defaults or dump request bodies.
    settings.ANYMAIL = {
        "SENDGRID_API_KEY": "SG.from-settings",
        "SENDGRID_API_URL": "http://127.0.0.2:9/v3/",
        "DEBUG_API_REQUESTS": True,
        "SEND_DEFAULTS": {"tags": ["from-settings"]},
        "SENDGRID_SEND_DEFAULTS": {"metadata": {"leak": "yes"}},
        "SENDGRID_GENERATE_MESSAGE_ID": False,
    }
    settings.ANYMAIL_SENDGRID_API_KEY = "SG.from-settings-too"
    fault.route("POST", SEND, respond(202, body=b""))
    result = _send(sendgrid)
    (request,) = fault.requests_for("POST", SEND)
    assert request.header("Authorization") == f"Bearer {API_KEY}"
    body = request.json()
    assert body["categories"] == ["order_confirmation"]
    assert "leak" not in body["custom_args"]
    assert (
        result.provider_message_id
        == (body["personalizations"][0]["custom_args"]["anymail_id"])
    )
    assert capsys.readouterr().out == ""


def test_api_key_reaches_no_log_or_call_row(sendgrid, fault, caplog) -> None:
    fault.route("POST", SEND, respond(401, json=ERRORS["unauthorized"]))
    with caplog.at_level(logging.DEBUG), pytest.raises(NotProcessed) as info:
        _send(sendgrid)
    assert API_KEY not in str(info.value)
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(record.__dict__)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM integrations_providercall")
        assert API_KEY not in repr(cursor.fetchall())


def test_health_check_lists_scopes(sendgrid, fault) -> None:
    scopes = json.loads((FIXTURES / "scopes.json").read_text())
    fault.route("GET", "/v3/scopes", respond(200, json=scopes))
    result = get_adapter(sendgrid).health_check()
    assert result.ok
    (request,) = fault.requests_for("GET", "/v3/scopes")
    assert request.header("Authorization") == f"Bearer {API_KEY}"


def test_health_check_without_mail_send_scope_is_not_ok(sendgrid, fault) -> None:
    fault.route("GET", "/v3/scopes", respond(200, json={"scopes": ["alerts.read"]}))
    result = get_adapter(sendgrid).health_check()
    assert not result.ok
    assert "mail.send" in result.detail


def test_health_check_with_a_revoked_key_fails(sendgrid, fault) -> None:
    fault.route("GET", "/v3/scopes", respond(401, json=ERRORS["unauthorized"]))
    with pytest.raises(NotProcessed) as info:
        get_adapter(sendgrid).health_check()
    assert info.value.code == "authentication_failed"


def test_message_anymail_cannot_build_fails_over_without_retry(sendgrid) -> None:
    error = get_adapter(sendgrid).classify(AnymailUnsupportedFeature("amp html"))
    assert isinstance(error, ConfigurationError)  # not_processed, never retried
    assert error.code == "unsupported_message"
    assert "amp html" not in error.message


def test_anymail_error_without_an_answer_is_unknown(sendgrid) -> None:
    error = get_adapter(sendgrid).classify(AnymailAPIError("odd"))
    assert isinstance(error, Unknown)
    assert error.code == "malformed_response"
