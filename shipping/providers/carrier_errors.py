"""What the carrier adapters' error tables share: reading a carrier's error
body, and turning one (status, carrier code, carrier message) into our error.

Each carrier module supplies only where its body keeps the code and message
and which of its codes mean something of our own (``not_found``,
``not_voidable``, ...). 429 and 5xx stay with the client's default mapping
(Retry-After, ``unknown``), so a carrier's body never hides them.
"""

from collections.abc import Callable, Mapping
from typing import Any

import requests

from integrations.errors import NotProcessed, ProviderError, Rejected

# (carrier code, carrier message) read from a body; ("", "") when absent.
Reader = Callable[[Any], tuple[str, str]]


def carrier_error_map(
    read: Reader,
    *,
    carrier: str,
    codes: Mapping[str, str] | None = None,
    auth_codes: frozenset[str] = frozenset(),
) -> Callable[[requests.Response], ProviderError | None]:
    """An ``error_map`` for ``HttpAdapter``: ``read`` finds the carrier's
    code and message in a JSON body; ``codes`` maps carrier codes to ours;
    ``auth_codes`` are the codes that mean an expired or refused token."""
    table = dict(codes or {})

    def error_map(response: requests.Response) -> ProviderError | None:
        status = response.status_code
        if status < 400 or status == 429 or status >= 500:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        code, message = read(body)
        return carrier_error(
            status,
            code,
            message,
            carrier=carrier,
            our_code=table.get(code),
            unauthorized=code in auth_codes,
        )

    return error_map


def carrier_error(
    status: int,
    code: str,
    message: str,
    *,
    carrier: str,
    our_code: str | None = None,
    unauthorized: bool = False,
) -> ProviderError:
    """One carrier refusal as our error: 401 (or a token code) is
    ``authentication_failed`` with status 401, so the adapter refreshes its
    token once; 403 ``permission_denied``; the rest ``Rejected`` with the
    carrier's message and code."""
    if unauthorized or status == 401:
        return NotProcessed(
            f"{carrier} refused the access token",
            code="authentication_failed",
            http_status=401,
            provider_code=code or None,
        )
    if status == 403:
        return NotProcessed(
            f"the {carrier} credentials lack permission for this request",
            code="permission_denied",
            http_status=status,
            provider_code=code or None,
        )
    if our_code is None:
        our_code = "not_found" if status == 404 else "bad_request"
    return Rejected(
        message or f"{carrier} rejected the request",
        code=our_code,
        http_status=status,
        provider_code=code or None,
    )


def first_error(body: Any, *path: str) -> Mapping[str, Any]:
    """``body[path...][0]`` when it is an object, else {} (a body we cannot
    read falls back to the status alone)."""
    node = body
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    if isinstance(node, list) and node and isinstance(node[0], Mapping):
        return node[0]
    return node if isinstance(node, Mapping) else {}
