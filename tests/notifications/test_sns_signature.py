"""Amazon SNS signature verification (notifications.providers.sns_signature):
AWS's own signed messages (tests/fixtures/amazon_ses/sns-signed-messages.json,
from ../shared/provider-specs/email/aws-sns/) and messages signed here with a
generated key; any changed byte is refused."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.webhooks.verification import WebhookVerificationError
from notifications.providers.sns_signature import (
    check_sns_url,
    check_topic,
    load_certificate,
    parse_sns_message,
    verify_sns_signature,
)
from tests.notifications.signing_keys import (
    sns_body,
    sns_certificate_pem,
    sns_private_key,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "amazon_ses"
AWS_MESSAGES = json.loads((FIXTURES / "sns-signed-messages.json").read_text())[
    "http_endpoint_casing"
]
AWS_CERT = (FIXTURES / "sns-signing-cert.pem").read_bytes()
# Within the published certificate's validity (2021-09-07 to 2022-08-17).
AWS_NOW = datetime(2022, 7, 29, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
FORGED = WebhookVerificationError.FORGED


def _notification(**extra: str) -> dict[str, str]:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": "Amazon SES Email Event Notification",
        "Message": '{"eventType":"Delivery"}',
        "Timestamp": "2026-12-05T00:00:00.000Z",
        **extra,
    }


def _verify(body: bytes, pem: bytes, now: datetime) -> None:
    message = parse_sns_message(body)
    verify_sns_signature(message, load_certificate(pem, now=now))


@pytest.mark.parametrize("index", range(len(AWS_MESSAGES)))
def test_aws_signed_messages_verify(index: int) -> None:
    body = json.dumps(AWS_MESSAGES[index]).encode()
    _verify(body, AWS_CERT, AWS_NOW)


def test_aws_messages_cover_both_signature_versions() -> None:
    versions = {m["SignatureVersion"] for m in AWS_MESSAGES}
    assert versions == {"1", "2"}


@pytest.mark.parametrize("index", range(len(AWS_MESSAGES)))
def test_aws_message_with_one_changed_byte_is_forged(index: int) -> None:
    message = dict(AWS_MESSAGES[index])
    message["Message"] = message["Message"] + "!"
    with pytest.raises(WebhookVerificationError) as info:
        _verify(json.dumps(message).encode(), AWS_CERT, AWS_NOW)
    assert info.value.code == FORGED


def test_expired_certificate_is_refused() -> None:
    body = json.dumps(AWS_MESSAGES[0]).encode()
    with pytest.raises(WebhookVerificationError) as info:
        _verify(body, AWS_CERT, datetime(2026, 12, 5, tzinfo=UTC))
    assert info.value.code == FORGED


@pytest.mark.parametrize("version", ["1", "2"])
def test_generated_key_signs_both_versions(version: str) -> None:
    body = sns_body(_notification(), version=version)
    _verify(body, sns_certificate_pem(), datetime.now(UTC))


def test_subscription_confirmation_signs_token_and_subscribe_url() -> None:
    fields = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": "2026-12-05T00:00:00.000Z",
    }
    body = sns_body(fields)
    _verify(body, sns_certificate_pem(), datetime.now(UTC))
    tampered = json.loads(body)
    tampered["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=Other"
    with pytest.raises(WebhookVerificationError) as info:
        _verify(json.dumps(tampered).encode(), sns_certificate_pem(), datetime.now(UTC))
    assert info.value.code == FORGED


def test_unknown_signature_version_is_refused() -> None:
    body = sns_body(_notification(), version="3")
    with pytest.raises(WebhookVerificationError) as info:
        _verify(body, sns_certificate_pem(), datetime.now(UTC))
    assert info.value.code == FORGED
    assert info.value.param == "SignatureVersion"


def test_signature_that_is_not_base64_is_forged() -> None:
    signed = json.loads(sns_body(_notification()))
    signed["Signature"] = "not base64!"
    with pytest.raises(WebhookVerificationError) as info:
        _verify(json.dumps(signed).encode(), sns_certificate_pem(), datetime.now(UTC))
    assert info.value.code == FORGED


def test_certificate_of_another_subject_is_refused() -> None:
    pem = sns_certificate_pem(common_name="attacker.example.com")
    with pytest.raises(WebhookVerificationError) as info:
        load_certificate(pem, now=datetime.now(UTC))
    assert info.value.code == FORGED


def test_certificate_not_yet_valid_is_refused() -> None:
    pem = sns_certificate_pem(not_before=datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(WebhookVerificationError):
        load_certificate(pem, now=datetime.now(UTC))


def test_unreadable_certificate_is_refused() -> None:
    with pytest.raises(WebhookVerificationError) as info:
        load_certificate(b"-----BEGIN CERTIFICATE-----\nxx\n", now=datetime.now(UTC))
    assert info.value.code == FORGED


def test_signature_by_another_key_is_forged() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = sns_body(_notification(), key=other)
    assert other is not sns_private_key()
    with pytest.raises(WebhookVerificationError) as info:
        _verify(body, sns_certificate_pem(), datetime.now(UTC))
    assert info.value.code == FORGED


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
    ],
)
def test_sns_certificate_urls_accepted(url: str) -> None:
    check_sns_url(url, param="SigningCertURL", pem=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",  # not HTTPS
        "https://sns.us-east-1.amazonaws.com.evil.com/cert.pem",
        "https://evil.com/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",  # a port
        "https://user@sns.us-east-1.amazonaws.com/cert.pem",  # user info
        "https://s3.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.txt",  # not a .pem
        "https://[::1/cert.pem",  # unparseable
        "",
    ],
)
def test_other_certificate_urls_refused(url: str) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        check_sns_url(url, param="SigningCertURL", pem=True)
    assert info.value.code == FORGED


def test_topic_allow_list() -> None:
    message = parse_sns_message(sns_body(_notification()))
    check_topic(message, [" " + TOPIC, "arn:aws:sns:us-east-1:1:other"])
    with pytest.raises(WebhookVerificationError) as info:
        check_topic(message, ["arn:aws:sns:us-east-1:123456789012:other"])
    assert info.value.code == FORGED
    with pytest.raises(WebhookVerificationError):
        check_topic(message, [""])


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"Type": "Something"}',
        json.dumps({"Type": "Notification", "MessageId": "x"}).encode(),
    ],
)
def test_malformed_messages(body: bytes) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        parse_sns_message(body)
    assert info.value.code == WebhookVerificationError.MALFORMED


def test_subject_is_optional_for_notifications() -> None:
    fields = _notification()
    del fields["Subject"]
    _verify(sns_body(fields), sns_certificate_pem(), datetime.now(UTC))
