"""The Standard Webhooks verifier on its own, with a fixed clock."""

import pytest

from integrations.webhooks.verification import (
    RequestHeaders,
    WebhookVerificationError,
    sign,
    signed_headers,
    verify_standard_webhook,
)

# The suite-wide cache fixture needs the database (the default cache is in it).
pytestmark = pytest.mark.django_db

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_dGVzdHNlY3JldA=="
BODY = b'{"test": 2432232314}'
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TS = 1614265330


def _verify(headers, *, secret=SECRET, body=BODY, now=TS, tolerance=300):
    return verify_standard_webhook(
        secret=secret, body=body, headers=headers, now=now, tolerance=tolerance
    )


def _headers(**overrides):
    headers = signed_headers(secret=SECRET, webhook_id=MSG_ID, body=BODY, timestamp=TS)
    headers.update(overrides)
    return headers


def _code(headers, **kwargs) -> str:
    with pytest.raises(WebhookVerificationError) as info:
        _verify(headers, **kwargs)
    return info.value.code


def test_signature_matches_the_reference_libraries_vector():
    # The test vector published with the Standard Webhooks reference libraries.
    assert sign(secret=SECRET, webhook_id=MSG_ID, timestamp=TS, body=BODY) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_good_request_passes_and_returns_id_and_timestamp():
    verified = _verify(_headers())
    assert (verified.webhook_id, verified.timestamp) == (MSG_ID, TS)


def test_header_names_are_case_insensitive():
    headers = {k.upper(): v for k, v in _headers().items()}
    assert _verify(headers).webhook_id == MSG_ID


def test_tampered_body_is_forged():
    assert _code(_headers(), body=BODY + b" ") == "invalid_signature"


def test_signature_with_another_secret_is_forged():
    forged = signed_headers(
        secret=OTHER_SECRET, webhook_id=MSG_ID, body=BODY, timestamp=TS
    )
    error_code = _code(forged)
    assert error_code == "invalid_signature"


def test_changed_id_is_forged():
    assert _code(_headers(**{"webhook-id": "msg_other"})) == "invalid_signature"


def test_any_matching_entry_passes_for_key_rotation():
    good = _headers()["webhook-signature"]
    old = sign(secret=OTHER_SECRET, webhook_id=MSG_ID, timestamp=TS, body=BODY)
    for value in (f"{old} {good}", f"{good} {old}", f"v2,abc {good}"):
        assert _verify(_headers(**{"webhook-signature": value})).webhook_id == MSG_ID


def test_only_other_versions_is_forged():
    sig = _headers()["webhook-signature"].split(",", 1)[1]
    assert _code(_headers(**{"webhook-signature": f"v1a,{sig}"})) == (
        "invalid_signature"
    )


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_outside_tolerance_either_way_is_rejected(offset):
    # Positive offset: a replayed old request; negative: a future timestamp.
    assert _code(_headers(), now=TS + offset) == "timestamp_out_of_tolerance"


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_inside_tolerance_passes(offset):
    assert _verify(_headers(), now=TS + offset).timestamp == TS


def test_tolerance_is_configurable():
    assert _code(_headers(), now=TS + 11, tolerance=10) == (
        "timestamp_out_of_tolerance"
    )


@pytest.mark.parametrize("secret", [None, ""])
def test_missing_secret_is_an_error_never_a_pass(secret):
    with pytest.raises(WebhookVerificationError) as info:
        _verify(_headers(), secret=secret)
    assert info.value.code == "webhook_secret_missing"
    assert info.value.http_status == 503


def test_undecodable_secret_is_an_error():
    assert _code(_headers(), secret="whsec_not base64!") == "webhook_secret_invalid"


@pytest.mark.parametrize(
    "name", ["webhook-id", "webhook-timestamp", "webhook-signature"]
)
def test_missing_header_is_malformed(name):
    headers = _headers()
    del headers[name]
    with pytest.raises(WebhookVerificationError) as info:
        _verify(headers)
    assert (info.value.code, info.value.param, info.value.http_status) == (
        "missing_header",
        name,
        400,
    )


@pytest.mark.parametrize("value", ["soon", "1614265330.5", "-5", "١٢٣"])
def test_non_integer_timestamp_is_malformed(value):
    assert _code(_headers(**{"webhook-timestamp": value})) == "malformed_request"


@pytest.mark.parametrize("value", ["garbage", "v1", "v1,abc garbage"])
def test_signature_header_without_entries_is_malformed(value):
    assert _code(_headers(**{"webhook-signature": value})) == "malformed_request"


def test_overlong_id_is_malformed():
    assert _code(_headers(**{"webhook-id": "m" * 256})) == "malformed_request"


def test_error_never_carries_secret_or_expected_signature():
    expected = _headers()["webhook-signature"]
    with pytest.raises(WebhookVerificationError) as info:
        _verify(_headers(), body=b"{}")
    text = f"{info.value} {info.value!r} {info.value.message}"
    assert SECRET not in text and expected.split(",")[1] not in text


def test_request_headers_from_the_environ_are_looked_up_in_any_case():
    headers = RequestHeaders.from_meta(
        {
            "HTTP_WEBHOOK_ID": "msg_1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": "2",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": object(),
        }
    )

    assert dict(headers) == {
        "webhook-id": "msg_1",
        "content-type": "application/json",
        "content-length": "2",
    }
    assert headers["Webhook-Id"] == headers.get("WEBHOOK-ID") == "msg_1"
    assert "Content-Type" in headers
    assert headers.get("X-Missing", "none") == "none"
