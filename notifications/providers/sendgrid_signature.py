"""SendGrid's signed Event Webhook: ECDSA (P-256, SHA-256) over the
``X-Twilio-Email-Event-Webhook-Timestamp`` value followed by the raw body,
base64 (DER) in ``X-Twilio-Email-Event-Webhook-Signature``. The account holds
the verification key SendGrid shows (base64 DER; PEM also accepted).
https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features

Pure functions; nothing here logs or raises with a key, signature or body.
"""

import base64
import binascii
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from integrations.webhooks.verification import WebhookVerificationError

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
_PEM_HEADER = "-----BEGIN PUBLIC KEY-----"


@lru_cache(maxsize=64)  # one per account's key: parsed once, not per request
def load_verification_key(value: str) -> ec.EllipticCurvePublicKey:
    """The P-256 public key in ``value`` (SendGrid's base64 DER, or PEM);
    INVALID_SECRET when it is not one, so the account's staff fix it."""
    text = value.strip()
    try:
        if text.startswith(_PEM_HEADER):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            der = base64.b64decode("".join(text.split()), validate=True)
            key = serialization.load_der_public_key(der)
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise WebhookVerificationError(
            "The SendGrid verification key configured for this account is not "
            "an ECDSA P-256 public key.",
            code=WebhookVerificationError.INVALID_SECRET,
        )
    return key


def verify_sendgrid_signature(
    key: ec.EllipticCurvePublicKey, *, timestamp: str, body: bytes, signature: str
) -> None:
    """Raise FORGED unless ``signature`` signs ``timestamp`` + ``body``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise WebhookVerificationError(
            "No webhook signature matches the request.",
            code=WebhookVerificationError.FORGED,
            param=SIGNATURE_HEADER,
        ) from None
