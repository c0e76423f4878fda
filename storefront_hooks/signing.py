"""Standard Webhooks signing (https://www.standardwebhooks.com/), through the
``standardwebhooks`` library's own signer, so a receiver using its verifier
agrees with us byte for byte."""

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32
USER_AGENT = "Switchyard-Webhooks/1"


def secret_new() -> str:
    """A fresh signing secret in the ``whsec_<base64>`` form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_header(
    *, secrets_: list[str], msg_id: str, timestamp: datetime, body: bytes
) -> str:
    """``v1,<base64>`` per secret, space separated: during a rotation the
    receiver accepts the message with either secret."""
    return " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body)
        for secret in secrets_
    )


def signed_headers(
    *, secrets_: list[str], msg_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(
            secrets_=secrets_, msg_id=msg_id, timestamp=timestamp, body=body
        ),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
