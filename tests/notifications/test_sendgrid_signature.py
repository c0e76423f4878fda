"""SendGrid's signed Event Webhook (notifications.providers.sendgrid_signature),
with an ECDSA P-256 key generated here."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from integrations.webhooks.verification import WebhookVerificationError
from notifications.providers.sendgrid_signature import (
    load_verification_key,
    verify_sendgrid_signature,
)
from tests.notifications.signing_keys import (
    sendgrid_private_key,
    sendgrid_public_key_text,
    sendgrid_sign,
)

BODY = b'[{"email":"a@example.com","event":"delivered","sg_event_id":"e1"}]'
TIMESTAMP = "1733356800"


def _verify(
    body: bytes = BODY, timestamp: str = TIMESTAMP, signature: str = ""
) -> None:
    key = load_verification_key(sendgrid_public_key_text())
    verify_sendgrid_signature(
        key,
        timestamp=timestamp,
        body=body,
        signature=signature or sendgrid_sign(BODY, TIMESTAMP),
    )


def test_valid_signature_passes() -> None:
    _verify()


@pytest.mark.parametrize(
    ("body", "timestamp"),
    [
        (BODY + b" ", TIMESTAMP),  # one byte more
        (BODY.replace(b"delivered", b"delivereD"), TIMESTAMP),
        (BODY, "1733356801"),  # another time
    ],
)
def test_changed_body_or_timestamp_is_forged(body: bytes, timestamp: str) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        _verify(body, timestamp)
    assert info.value.code == WebhookVerificationError.FORGED


@pytest.mark.parametrize("signature", ["bm90IGEgc2lnbmF0dXJl", "%%%", "AAAA"])
def test_garbage_signature_is_forged(signature: str) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        _verify(signature=signature)
    assert info.value.code == WebhookVerificationError.FORGED


def test_signature_by_another_key_is_forged() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(WebhookVerificationError) as info:
        _verify(signature=sendgrid_sign(BODY, TIMESTAMP, key=other))
    assert info.value.code == WebhookVerificationError.FORGED


def test_pem_key_is_accepted() -> None:
    pem = (
        sendgrid_private_key()
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )
    key = load_verification_key(pem)
    verify_sendgrid_signature(
        key, timestamp=TIMESTAMP, body=BODY, signature=sendgrid_sign(BODY, TIMESTAMP)
    )


def _der(key: object) -> str:
    der = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    "value",
    [
        "not a key",
        "AAAA",
        _der(ec.generate_private_key(ec.SECP384R1())),  # another curve
        _der(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ],
)
def test_unusable_key_is_a_configuration_error(value: str) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        load_verification_key(value)
    assert info.value.code == WebhookVerificationError.INVALID_SECRET
    assert value not in info.value.message
