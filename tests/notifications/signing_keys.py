"""Keys the tests sign webhooks with, generated here (never fetched): an
ECDSA P-256 key standing in for SendGrid's, and an RSA key with a
self-signed certificate standing in for Amazon SNS's signing certificate."""

import base64
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from notifications.providers.sns_signature import SIGNED_FIELDS

SNS_CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/"
    "SimpleNotificationService-0000000000000000000000000000test.pem"
)


@cache
def sendgrid_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key_text(key: ec.EllipticCurvePrivateKey | None = None) -> str:
    """The verification key as SendGrid shows it: base64 DER."""
    key = key or sendgrid_private_key()
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def sendgrid_sign(
    body: bytes, timestamp: str, key: ec.EllipticCurvePrivateKey | None = None
) -> str:
    key = key or sendgrid_private_key()
    raw = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(raw).decode("ascii")


@cache
def sns_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sns_certificate_pem(
    *,
    common_name: str = "sns.amazonaws.com",
    key: rsa.RSAPrivateKey | None = None,
    not_before: datetime | None = None,
    days: int = 365,
) -> bytes:
    """A self-signed certificate for ``key`` (default: the SNS test key)."""
    key = key or sns_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def sns_sign(
    fields: dict[str, Any],
    *,
    version: str = "2",
    key: rsa.RSAPrivateKey | None = None,
    cert_url: str = SNS_CERT_URL,
) -> dict[str, Any]:
    """``fields`` completed and signed as SNS signs an HTTPS delivery."""
    key = key or sns_private_key()
    signed = {**fields, "SignatureVersion": version, "SigningCertURL": cert_url}
    text = "".join(
        f"{name}\n{signed[name]}\n"
        for name in SIGNED_FIELDS[signed["Type"]]
        if isinstance(signed.get(name), str)
    )
    # SignatureVersion 1 is SHA1 by AWS's definition.
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    # A lone surrogate (escaped in the JSON) signed as UTF-8 would pass it
    # through: SNS never signs one, so the signature stays one that fails.
    raw = key.sign(text.encode("utf-8", "surrogatepass"), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(raw).decode("ascii")
    return signed


def sns_body(fields: dict[str, Any], **kwargs: Any) -> bytes:
    return json.dumps(sns_sign(fields, **kwargs)).encode()
