"""Signed one-click unsubscribe links (RFC 8058): the token names the
address, so the link needs no database row and cannot be forged."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALT = "notifications.unsubscribe"


def unsubscribe_token(address: str) -> str:
    return signing.dumps(address.strip().lower(), salt=_SALT, compress=True)


def unsubscribe_address(token: str) -> str | None:
    """The address a token was made for; None when forged or mangled."""
    try:
        value = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, str) else None


def unsubscribe_url(address: str) -> str:
    path = reverse(
        "notifications:unsubscribe", kwargs={"token": unsubscribe_token(address)}
    )
    return settings.EMAIL_PUBLIC_BASE_URL.rstrip("/") + path


def unsubscribe_headers(address: str) -> dict[str, str]:
    """The RFC 2369 / RFC 8058 headers of a marketing message."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(address)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
