"""Amazon SES sends over real sockets: boto3's endpoint pointed at a local
fault server (SESv2 is rest-json: POST /v2/email/outbound-emails, errors by
the x-amzn-ErrorType header), so botocore's own HTTP, parsing and exceptions
are what the adapter classifies. Answers: tests/fixtures/amazon_ses/api.json."""

import base64
import json
from pathlib import Path

import pytest

from integrations.errors import NotProcessed, Rejected, Unknown
from integrations.models import ProviderAccount, ProviderCall
from integrations.registry import get_adapter
from integrations.testing.faultserver import (
    FaultServer,
    malformed_json,
    reset,
    respond,
)
from notifications.providers.amazon_ses import AmazonSesAdapter
from notifications.providers.base import INVALID_RECIPIENT, MESSAGE_ID_HEADER
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

API = json.loads(
    (Path(__file__).parents[2] / "fixtures/amazon_ses/api.json").read_text()
)
SEND = "/v2/email/outbound-emails"
ACCOUNT = "/v2/email/account"


def _account(**settings) -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="amazon_ses",
        credentials={
            "access_key_id": "AKIAFAULTSERVERTEST",
            "secret_access_key": "secret-not-logged",
        },
        settings=fast(region="eu-west-1", **settings),
    )


@pytest.fixture
def ses(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    urls = {"test": fault.url, "live": fault.url}
    monkeypatch.setattr(AmazonSesAdapter, "endpoint_urls", urls)
    return _account(configuration_set="events")


def _send(account: ProviderAccount):
    return get_adapter(account).send(sample_email())


def _error(code: str, status: int, message: str = "") -> object:
    return respond(
        status,
        json={"message": message or code},
        headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"},
    )


def test_send_signs_and_posts_the_raw_message(ses, fault) -> None:
    fault.route("POST", SEND, respond(200, json=API["send_ok"]))
    result = _send(ses)
    assert result.provider_message_id == API["send_ok"]["MessageId"]
    (request,) = fault.requests_for("POST", SEND)
    authorization = request.header("Authorization")
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIAFAULTSERVERTEST/")
    assert "/eu-west-1/ses/aws4_request" in authorization
    body = request.json()
    assert body["ConfigurationSetName"] == "events"
    assert body["Destination"]["ToAddresses"] == ["ada@example.com"]
    raw = base64.b64decode(body["Content"]["Raw"]["Data"]).decode()
    assert f"{MESSAGE_ID_HEADER}: eml_contract0001" in raw
    call = ProviderCall.objects.filter(account=ses).latest("pk")
    assert (call.outcome, call.attempts, call.http_status) == ("success", 1, 200)


def test_an_idn_address_is_sent_as_punycode_and_its_id_read(ses, fault) -> None:
    fault.route("POST", SEND, respond(200, json=API["send_ok"]))
    result = get_adapter(ses).send(sample_email(to="ada@bücher.de"))
    assert result.provider_message_id == API["send_ok"]["MessageId"]
    (request,) = fault.requests_for("POST", SEND)
    assert request.json()["Destination"]["ToAddresses"] == ["ada@xn--bcher-kva.de"]


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (
            # SES's wording; the recipient is the one named (the sandbox).
            # An unverified sender: test_mail2_ses_unverified.py.
            _error(
                "MessageRejected",
                400,
                "Email address is not verified. The following identities "
                "failed the check in region EU-WEST-1: ada@example.com",
            ),
            Rejected,
            INVALID_RECIPIENT,
        ),
        (
            _error("MessageRejected", 400, "Message content rejected"),
            Rejected,
            "message_rejected",
        ),
        (
            _error("BadRequestException", 400, "Missing subject"),
            Rejected,
            "bad_request",
        ),
        (_error("TooManyRequestsException", 429), NotProcessed, "too_many_requests"),
        (_error("LimitExceededException", 400), NotProcessed, "too_many_requests"),
        (
            _error("UnrecognizedClientException", 403),
            NotProcessed,
            "authentication_failed",
        ),
        (_error("SendingPausedException", 400), NotProcessed, "account_unable_to_send"),
        (_error("InternalFailure", 500), NotProcessed, "server_error"),
        (_error("ServiceUnavailable", 503), NotProcessed, "server_error"),
    ],
)
def test_ses_errors_by_code(ses, fault, answer, error, code) -> None:
    fault.route("POST", SEND, answer)
    with pytest.raises(error) as info:
        _send(ses)
    assert info.value.code == code
    call = ProviderCall.objects.filter(account=ses).latest("pk")
    assert (call.outcome, call.error_code) == (str(info.value.outcome), code)


def test_throttled_send_says_when_to_come_back(ses, fault) -> None:
    fault.route("POST", SEND, _error("TooManyRequestsException", 429))
    with pytest.raises(NotProcessed) as info:
        _send(ses)
    assert info.value.retry_after == 1.0
    assert info.value.http_status == 429


def test_refused_connection_is_not_processed(refused_url, monkeypatch) -> None:
    urls = {"test": refused_url, "live": refused_url}
    monkeypatch.setattr(AmazonSesAdapter, "endpoint_urls", urls)
    account = _account()
    with pytest.raises(NotProcessed) as info:
        _send(account)
    assert info.value.code == "connection_refused"
    call = ProviderCall.objects.filter(account=account).latest("pk")
    assert (call.outcome, call.attempts) == ("not_processed", 1)


def test_read_timeout_is_unknown_and_sent_once(ses, fault) -> None:
    ses.settings["max_attempts"] = 3
    ses.save(update_fields=["settings"])
    fault.route("POST", SEND, respond(200, json=API["send_ok"], latency=1.0))
    with pytest.raises(Unknown) as info:
        _send(ses)
    assert info.value.code == "read_timeout"
    assert len(fault.requests_for("POST", SEND)) == 1


def test_connection_closed_after_sending_is_unknown(ses, fault) -> None:
    fault.route("POST", SEND, reset())
    with pytest.raises(Unknown):
        _send(ses)


def test_malformed_answer_is_unknown(ses, fault) -> None:
    fault.route("POST", SEND, malformed_json())
    with pytest.raises(Unknown) as info:
        _send(ses)
    assert info.value.code == "malformed_response"


def test_health_check_reads_the_account(ses, fault) -> None:
    fault.route("GET", ACCOUNT, respond(200, json=API["get_account"]))
    result = get_adapter(ses).health_check()
    assert result.ok
    assert result.extra == {"max_send_rate": 14.0}


def test_health_check_of_a_paused_account_is_not_ok(ses, fault) -> None:
    paused = {**API["get_account"], "SendingEnabled": False}
    fault.route("GET", ACCOUNT, respond(200, json=paused))
    assert not get_adapter(ses).health_check().ok


def test_django_settings_cannot_configure_the_client(ses, fault, settings) -> None:
    settings.ANYMAIL = {
        "AMAZON_SES_CLIENT_PARAMS": {"endpoint_url": "http://127.0.0.2:9"},
        "AMAZON_SES_SESSION_PARAMS": {"aws_access_key_id": "AKIAFROMSETTINGS"},
        "AMAZON_SES_CONFIGURATION_SET_NAME": "from-settings",
    }
    fault.route("POST", SEND, respond(200, json=API["send_ok"]))
    _send(ses)
    (request,) = fault.requests_for("POST", SEND)
    assert "AKIAFAULTSERVERTEST" in request.header("Authorization")
    assert request.json()["ConfigurationSetName"] == "events"


def test_one_boto3_client_per_account_and_credentials(ses) -> None:
    first = get_adapter(ses).ses_client()
    assert get_adapter(ses).ses_client() is first
    ses.set_credentials(
        {"access_key_id": "AKIAROTATED", "secret_access_key": "rotated-secret"}
    )
    ses.save()
    assert get_adapter(ses).ses_client() is not first
