"""Amazon SNS message signatures: how Amazon SES events reach us.

Pure functions: the adapter fetches (and caches) the signing certificate and
hands it in. SNS signs a canonical string of the message's fields with the
private key of a certificate it serves from an ``sns.<region>.amazonaws.com``
host over HTTPS; SignatureVersion 1 uses SHA1, 2 uses SHA256 (RSA PKCS#1 v1.5).
https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html

Nothing here logs or raises with a signature or a message body.
"""

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from integrations.webhooks.messages import iso_time, json_object
from integrations.webhooks.verification import WebhookVerificationError

# The fields each message type signs, in the order they are signed.
SIGNED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Notification": (
        "Message",
        "MessageId",
        "Subject",
        "Timestamp",
        "TopicArn",
        "Type",
    ),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
# Only fields that may be absent from what SNS signs.
_OPTIONAL = frozenset({"Subject"})
_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}
# sns.us-east-2.amazonaws.com, sns.us-gov-west-1.amazonaws.com,
# sns.cn-north-1.amazonaws.com.cn: the middle label is a region. Any label
# would admit hosts that are not SNS: an S3 bucket named "sns" answers at
# sns.s3-us-west-2.amazonaws.com with whatever certificate its owner put there.
SNS_HOST = re.compile(r"sns\.[a-z]{2}(-[a-z]+)+-[0-9]{1,2}\.amazonaws\.com(\.cn)?")
# What SNS's URLs are made of (RFC 3986: printable ASCII). urlsplit checks
# less: it drops a tab or newline and keeps NUL, a space, a lone surrogate.
_URL_TEXT = re.compile(r"[!-~]+")
# The subject of the certificate SNS signs with.
_SIGNER_NAME = re.compile(r"^sns(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")


@dataclass(frozen=True)
class SnsMessage:
    """An SNS message posted to an HTTPS subscription, as sent."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: datetime | None
    signature_version: str
    signature: str
    signing_cert_url: str
    subscribe_url: str
    fields: Mapping[str, Any]


def _forged(message: str, param: str) -> WebhookVerificationError:
    return WebhookVerificationError(
        message, code=WebhookVerificationError.FORGED, param=param
    )


def _malformed(message: str, param: str | None = None) -> WebhookVerificationError:
    return WebhookVerificationError(
        message, code=WebhookVerificationError.MALFORMED, param=param
    )


def _field(fields: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = fields.get(name)
        if isinstance(value, str):
            return value
    return ""


def parse_sns_message(body: bytes | str) -> SnsMessage:
    """The SNS message in a request body; MALFORMED unless it is a JSON
    object of a known type with every field that type signs."""
    fields = json_object(body, what="an Amazon SNS message")
    kind = _field(fields, "Type")
    signed = SIGNED_FIELDS.get(kind)
    if signed is None:
        raise _malformed("The body is not an Amazon SNS message.", "Type")
    for name in signed:
        if name not in _OPTIONAL and not isinstance(fields.get(name), str):
            raise _malformed(f"The Amazon SNS message has no '{name}'.", name)
    return SnsMessage(
        type=kind,
        message_id=fields["MessageId"],
        topic_arn=fields["TopicArn"],
        message=fields["Message"],
        timestamp=iso_time(fields["Timestamp"]),
        signature_version=_field(fields, "SignatureVersion"),
        signature=_field(fields, "Signature"),
        # HTTP endpoints receive ...URL; Lambda events spell it ...Url.
        signing_cert_url=_field(fields, "SigningCertURL", "SigningCertUrl"),
        subscribe_url=_field(fields, "SubscribeURL", "SubscribeUrl"),
        fields=fields,
    )


def canonical_string(message: SnsMessage) -> bytes:
    """What SNS signs: each signed field present as ``name\\nvalue\\n``."""
    parts = []
    for name in SIGNED_FIELDS[message.type]:
        value = message.fields.get(name)
        if isinstance(value, str):
            parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


def check_sns_url(url: str, *, param: str, pem: bool = False) -> None:
    """Refuse any URL but ``https://sns.<region>.amazonaws.com/...`` (no
    port, no user info; a ``.pem`` path when ``pem``): a forged message must
    not make us fetch from, or confirm to, a host of its choosing."""
    if not _URL_TEXT.fullmatch(url):
        raise _forged("The Amazon SNS URL is not valid.", param)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _forged("The Amazon SNS URL is not valid.", param) from None
    host = parts.hostname or ""
    if (
        parts.scheme != "https"
        or port is not None
        or parts.username is not None
        or parts.password is not None
        or not SNS_HOST.fullmatch(host)
        or (pem and not parts.path.endswith(".pem"))
    ):
        raise _forged("The Amazon SNS URL is not an Amazon SNS host.", param)


def load_certificate(pem: bytes, *, now: datetime) -> x509.Certificate:
    """The SNS signing certificate in ``pem``; FORGED if it is not an RSA
    certificate issued to SNS and valid at ``now``."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise _forged(
            "The Amazon SNS signing certificate cannot be read.", "SigningCertURL"
        ) from None
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    if not _SIGNER_NAME.match(common_name):
        raise _forged(
            "The signing certificate was not issued to Amazon SNS.", "SigningCertURL"
        )
    if not (certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc):
        raise _forged(
            "The Amazon SNS signing certificate is not valid now.", "SigningCertURL"
        )
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        raise _forged(
            "The Amazon SNS signing certificate has no RSA key.", "SigningCertURL"
        )
    return certificate


def verify_sns_signature(message: SnsMessage, certificate: x509.Certificate) -> None:
    """Raise FORGED unless ``message`` is signed by ``certificate``'s key
    (SignatureVersion 1 or 2)."""
    algorithm = _HASHES.get(message.signature_version)
    if algorithm is None:
        raise _forged("Unsupported Amazon SNS SignatureVersion.", "SignatureVersion")
    try:
        signature = base64.b64decode(message.signature, validate=True)
    except (binascii.Error, ValueError):
        raise _forged("The Amazon SNS signature is not base64.", "Signature") from None
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)  # checked by load_certificate
    try:
        signed = canonical_string(message)
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except (InvalidSignature, UnicodeEncodeError):
        # UnicodeEncodeError: a field holds a lone surrogate (escaped in the
        # JSON), which has no UTF-8 form: SNS signed no such text.
        raise _forged("The Amazon SNS signature does not match.", "Signature") from None


def check_topic(message: SnsMessage, allowed: Iterable[str]) -> None:
    """Refuse a message from a topic not on the account's allow-list: anyone
    can publish a validly signed message to a topic of their own."""
    if message.topic_arn not in {arn.strip() for arn in allowed if arn.strip()}:
        raise _forged("The Amazon SNS topic is not allowed.", "TopicArn")
