"""The client's one redirect rule, chosen per adapter (its ``redirects``
attribute): ``FOLLOW`` follows every redirect, and past the origin sends only
the plain headers (``ProviderSession.rebuild_auth``); ``SAME_ORIGIN`` follows
redirects on the origin and refuses one that leaves it, with an error naming
the origin it pointed to. docs/transport.md, "Redirects"."""

from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from integrations.errors import ProviderError, Unknown

FOLLOW = "follow"
SAME_ORIGIN = "same_origin"
RULES = frozenset({FOLLOW, SAME_ORIGIN})


def adapter_rule(adapter: Any) -> str:
    """The rule an adapter class declares; ``FOLLOW`` when it declares none
    or one the client does not know."""
    rule = getattr(adapter, "redirects", FOLLOW)
    return rule if rule in RULES else FOLLOW


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: never its user, password, path or
    query, any of which may carry a secret."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "?"
    if not parts.hostname:
        return "?"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def redirect_error(
    response: requests.Response, target: str | None = None
) -> ProviderError:
    """A redirect not followed: the call may have been acted on (a 303 after
    a write), so its outcome is unknown; the error names the origin it
    pointed to (``target``, else its ``Location``)."""
    location = response.headers.get("Location")
    if target is None and location:
        target = urljoin(response.url or "", location)
    return Unknown(
        f"the provider answered a redirect (HTTP {response.status_code}) to "
        f"{origin_of(target or '')}, which is not followed: set its URL to where it "
        "points"[:500],
        code="redirected",
        http_status=response.status_code,
    )
