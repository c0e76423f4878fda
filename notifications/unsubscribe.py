"""Signed one-click unsubscribe links (RFC 8058): the token names the
address, so the link needs no database row and cannot be forged."""

from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.urls import get_script_prefix, get_urlconf, reverse

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
    before, after = _url_around_token(
        settings.EMAIL_PUBLIC_BASE_URL,
        get_script_prefix(),
        get_urlconf() or settings.ROOT_URLCONF,
    )
    return before + unsubscribe_token(address) + after


@lru_cache(maxsize=8)
def _url_around_token(base: str, _prefix: str, _urlconf: object) -> tuple[str, str]:
    """The link's text before and after its token: reversed once (a bulk
    send signs one per message). A token's characters (URL-safe base64 and
    ``:``) are never quoted by ``reverse``, so the split is exact."""
    marker = "TOKEN"
    path = reverse("notifications:unsubscribe", kwargs={"token": marker})
    before, after = path.split(marker, 1)
    return base.rstrip("/") + before, after


def unsubscribe_headers(address: str) -> dict[str, str]:
    """The RFC 2369 / RFC 8058 headers of a marketing message."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(address)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
