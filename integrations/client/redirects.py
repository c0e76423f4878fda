"""The client's one redirect rule, chosen per adapter (its ``redirects``
attribute): ``SAME_ORIGIN`` (every adapter's default) follows redirects on the
origin and refuses one that leaves it, with an error naming the origin it
pointed to; ``FOLLOW``, for an adapter that documents the need, follows every
redirect and past the origin sends only the plain headers
(``ProviderSession.rebuild_auth``). docs/transport.md, "Redirects"."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from integrations.errors import NotProcessed, ProviderError, Unknown

FOLLOW = "follow"
SAME_ORIGIN = "same_origin"
RULES = frozenset({FOLLOW, SAME_ORIGIN})

# A 301/307/308 asks for the very request at another URI: the server did not
# act on it. A 302 or 303 is how a server answers a write it carried out
# (post/redirect/get), so what it did is unknown.
_NOT_ACTED_ON = frozenset({301, 307, 308})

_same_origin_only: ContextVar[bool] = ContextVar("same_origin_only", default=False)


def adapter_rule(adapter: Any) -> str:
    """The rule an adapter class declares; ``SAME_ORIGIN`` when it declares
    none or one the client does not know."""
    rule = getattr(adapter, "redirects", SAME_ORIGIN)
    return rule if rule in RULES else SAME_ORIGIN


@contextmanager
def same_origin_only() -> Iterator[None]:
    """Requests in the block refuse a redirect off their origin whatever the
    session's rule (an OAuth token request: its body holds the secret)."""
    token = _same_origin_only.set(True)
    try:
        yield
    finally:
        _same_origin_only.reset(token)


def refuses_off_origin(rule: str) -> bool:
    return rule == SAME_ORIGIN or _same_origin_only.get()


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
    """A redirect not followed, naming the origin it pointed to (``target``,
    else its ``Location``): ``NotProcessed`` for a 301/307/308 answering the
    request itself, else ``Unknown`` (a 303 after a write; or a redirect
    followed before, whose first answer this one does not know)."""
    location = response.headers.get("Location")
    if target is None and location:
        target = urljoin(response.url or "", location)
    # An empty history: this answers the request as sent, no hop followed.
    first = not getattr(response, "history", None)
    not_acted_on = first and response.status_code in _NOT_ACTED_ON
    error_class = NotProcessed if not_acted_on else Unknown
    return error_class(
        f"the provider answered a redirect (HTTP {response.status_code}) to "
        f"{origin_of(target or '')}, which is not followed: set its URL to where it "
        "points"[:500],
        code="redirected",
        http_status=response.status_code,
    )
