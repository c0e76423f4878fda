"""hooks49: the fields of an Amazon SNS message that are read before its
signature is verified, holding a lone surrogate ("\\ud800", no UTF-8 form) or
NUL ("\\u0000"), both valid escaped JSON. None may crash the check (a
"webhook parser failed" traceback, a 500) or make us fetch from a URL that
is not SNS's.

A SigningCertURL holding one was hashed for the certificate cache (a lone
surrogate: UnicodeEncodeError, 400 and a traceback) or fetched as
``...%00.pem`` three times (NUL: 503, so SNS delivered it again). A
SubscribeURL holding NUL was stored as a subscription to confirm. Both are
now refused as check_sns_url refuses any URL that is not SNS's: 401
invalid_signature, nothing fetched, nothing stored.

Every message is signed with the test SNS key over its fields as sent (a
lone surrogate passed through as UTF-8 would be), so what refuses it is the
field's own check wherever one comes before the signature."""

import json
import logging
import uuid
from datetime import UTC, datetime

import pytest
import responses
from django.test import Client

from integrations.models import WebhookEvent
from tests.notifications.contract import harness_amazon_ses as ses
from tests.notifications.signing_keys import (
    SNS_CERT_URL,
    sns_certificate_pem,
    sns_sign,
)

pytestmark = pytest.mark.django_db

VALUES = {"lone_surrogate": "\ud800", "nul": "\u0000"}
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={ses.TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a57b3"
)
CERT_HOST = "https://sns.us-east-1.amazonaws.com/"


def _fields(kind: str) -> dict[str, str]:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    fields = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": ses.TOPIC,
        "Timestamp": stamp.replace("+00:00", "Z"),
    }
    if kind == "Notification":
        fields["Subject"] = "Amazon SES Email Event Notification"
        fields["Message"] = json.dumps(ses.event("bounce"))
    else:
        fields["Message"] = "You have chosen to subscribe to the topic."
        fields["SubscribeURL"] = SUBSCRIBE_URL
        fields["Token"] = "2336412f37fb687f5d51e6e241d09c805a5a57b3"
    return fields


def _inside(text: str, char: str) -> str:
    # Before the last four characters: inside a URL's path, before ".pem".
    return f"{text[:-4]}{char}{text[-4:]}"


def _post(body: bytes, caplog) -> tuple:
    """The answer, the URLs fetched and the log records with a traceback."""
    account = ses.make_account()
    with (
        caplog.at_level(logging.INFO),
        responses.RequestsMock(assert_all_requests_are_fired=False) as rsps,
    ):
        rsps.get(SNS_CERT_URL, body=sns_certificate_pem())
        response = Client(raise_request_exception=False).post(
            f"/webhooks/{account.slug}/",
            data=body,
            content_type="text/plain; charset=UTF-8",
            headers={"x-amz-sns-message-type": "Notification"},
        )
        fetched = [call.request.url for call in rsps.calls]
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    return response, fetched, tracebacks


def _refused(response, code: str, param: str) -> None:
    assert response.status_code != 500
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param), response.content


# --- 1. A certificate URL no SNS certificate has ----------------------------


@pytest.mark.parametrize("kind", ["Notification", "SubscriptionConfirmation"])
@pytest.mark.parametrize(
    "url",
    [
        pytest.param(_inside(SNS_CERT_URL, "\ud800"), id="surrogate-in-path"),
        pytest.param(_inside(SNS_CERT_URL, "\u0000"), id="nul-in-path"),
        pytest.param(_inside(SNS_CERT_URL, "\n"), id="newline-urlsplit-drops"),
        pytest.param(_inside(SNS_CERT_URL, " "), id="space"),
        pytest.param(_inside(SNS_CERT_URL, "\u00e9"), id="not-ascii"),
        pytest.param(
            SNS_CERT_URL.replace(".com/", ".com\ud800/"), id="surrogate-in-host"
        ),
    ],
)
def test_a_certificate_url_sns_has_not_is_refused_unfetched(kind, url, caplog):
    body = json.dumps(sns_sign(_fields(kind), cert_url=url)).encode()

    response, fetched, tracebacks = _post(body, caplog)

    assert response.status_code == 401, response.content
    _refused(response, "invalid_signature", "SigningCertURL")
    assert fetched == []
    assert tracebacks == []
    assert "webhook parser failed" not in caplog.text
    assert not WebhookEvent.objects.exists()


def test_the_lambda_spelling_of_the_certificate_url_is_refused_alike(caplog):
    signed = sns_sign(_fields("Notification"))
    signed["SigningCertUrl"] = _inside(signed.pop("SigningCertURL"), "\ud800")

    response, fetched, tracebacks = _post(json.dumps(signed).encode(), caplog)

    assert response.status_code == 401, response.content
    _refused(response, "invalid_signature", "SigningCertURL")
    assert (fetched, tracebacks) == ([], [])


# --- 2. The other fields read before the signature: one table ---------------

# (message type, field) -> value name -> (status, code, param). Nothing is
# stored for any of them; only the certificate at SNS_CERT_URL is fetched.
TABLE = {
    ("Notification", "Type"): {
        "lone_surrogate": (400, "malformed_request", "Type"),
        "nul": (400, "malformed_request", "Type"),
    },
    ("Notification", "SignatureVersion"): {
        "lone_surrogate": (401, "invalid_signature", "SignatureVersion"),
        "nul": (401, "invalid_signature", "SignatureVersion"),
    },
    ("SubscriptionConfirmation", "SubscribeURL"): {
        "lone_surrogate": (401, "invalid_signature", "SubscribeURL"),
        # Signable, and was stored to be confirmed at ".../?Action=...%00...".
        "nul": (401, "invalid_signature", "SubscribeURL"),
    },
    ("Notification", "TopicArn"): {
        "lone_surrogate": (401, "invalid_signature", "TopicArn"),
        "nul": (401, "invalid_signature", "TopicArn"),
    },
    ("Notification", "Timestamp"): {
        # No UTF-8 form: SNS signed none.
        "lone_surrogate": (401, "invalid_signature", "Signature"),
        # Signed, but no time to check the tolerance against.
        "nul": (400, "malformed_request", "Timestamp"),
    },
    ("Notification", "Signature"): {
        "lone_surrogate": (401, "invalid_signature", "Signature"),
        "nul": (401, "invalid_signature", "Signature"),
    },
}
# What is checked before the certificate is fetched.
UNFETCHED = {"Type", "SubscribeURL", "TopicArn"}


def _message(kind: str, name: str, char: str) -> bytes:
    fields = _fields(kind)
    if name == "SignatureVersion":
        return json.dumps(sns_sign(fields, version=_inside("2", char))).encode()
    if name in {"Type", "Signature"}:
        # Signed first: SNS has no field list to sign an unknown Type by.
        signed = sns_sign(fields)
        signed[name] = _inside(signed[name], char)
        return json.dumps(signed).encode()
    fields[name] = _inside(fields[name], char)
    return json.dumps(sns_sign(fields)).encode()


@pytest.mark.parametrize("value", sorted(VALUES))
@pytest.mark.parametrize(("kind", "name"), sorted(TABLE))
def test_a_field_read_before_the_signature_holding_it(kind, name, value, caplog):
    status, code, param = TABLE[kind, name][value]

    response, fetched, tracebacks = _post(_message(kind, name, VALUES[value]), caplog)

    assert response.status_code == status, response.content
    _refused(response, code, param)
    assert tracebacks == []
    assert "webhook parser failed" not in caplog.text
    assert fetched == ([] if name in UNFETCHED else [SNS_CERT_URL])
    assert not WebhookEvent.objects.exists()
