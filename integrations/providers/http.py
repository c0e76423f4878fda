"""The base of providers spoken to as JSON over HTTP (Square, PayPal, and the
carriers and email providers to come): base URL per test/live mode, auth
headers, and one ``send`` through the account's ProviderClient."""

import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from integrations.client import (
    DEFAULT_IDEMPOTENCY_HEADER,
    client_for,
    response_json,
)
from integrations.errors import NotProcessed, ProviderError, Unknown
from integrations.json_numbers import json_bytes
from integrations.providers.base import BaseAdapter

ErrorMap = Callable[[requests.Response], ProviderError | None]


class HttpAdapter(BaseAdapter):
    """An adapter supplies ``base_urls``, ``auth_headers`` and its error
    table (``error_map``); ``send`` does the rest."""

    # {"test": ..., "live": ...}. Class attributes, not account settings: a
    # credential must only ever go to the provider. Tests point them at
    # 127.0.0.1.
    base_urls: ClassVar[Mapping[str, str]] = {}
    # Where the idempotency key travels; None when it goes in the body
    # (Square) or the provider has none.
    idempotency_header: ClassVar[str | None] = DEFAULT_IDEMPOTENCY_HEADER
    # The JSON body field carrying the key when it travels in the body.
    idempotency_body_field: ClassVar[str | None] = None
    # True when the provider replays a write carrying the same key, so a
    # write may be retried after an unknown outcome.
    replays_writes: ClassVar[bool] = False
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    # True: a ``json=`` body goes out pre-encoded with each Decimal as an exact
    # JSON number (``integrations.json_numbers``), for a schema that wants
    # numbers for money; floats are refused.
    exact_json_numbers: ClassVar[bool] = False

    @property
    def base_url(self) -> str:
        return self.base_urls["live" if self.account.mode == "live" else "test"]

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (read credentials here)."""
        return {}

    def refresh_auth(self) -> bool:
        """After a 401: drop cached credentials (an OAuth token) and return
        True to resend the request once with fresh ``auth_headers``."""
        return False

    def error_map(self, response: requests.Response) -> ProviderError | None:
        """The provider's error for a response, or None for the client's
        default mapping by HTTP status."""
        return None

    def send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        json: Any = None,
        idempotency_key: str | None = None,
        error_map: ErrorMap | None = None,
        allow_empty: bool = False,
        **requests_kwargs: Any,
    ) -> dict[str, Any]:
        """One operation: ``method`` ``base_url + path`` through the client
        (retries, breaker, limiter, call log), answered by a JSON object.
        Reads are always safe to retry; writes only if ``replays_writes``."""
        response = self.send_response(
            method,
            path,
            operation=operation,
            json=json,
            idempotency_key=idempotency_key,
            error_map=error_map,
            # Checked inside the operation: a broken body is its outcome.
            expect_json=not allow_empty,
            **requests_kwargs,
        )
        return _json_object(response, allow_empty=allow_empty)

    def send_response(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        json: Any = None,
        idempotency_key: str | None = None,
        error_map: ErrorMap | None = None,
        expect_json: bool = False,
        **requests_kwargs: Any,
    ) -> requests.Response:
        """``send`` for answers that are not a JSON object (a multipart
        label, an ETag): the response itself, after the same client, error
        table and one resend with fresh credentials after a 401."""
        read = method.upper() in ("GET", "HEAD")
        idempotent = read or self.replays_writes
        field = self.idempotency_body_field
        if field and idempotency_key is None and isinstance(json, dict):
            idempotency_key = json.get(field)
        if not read and idempotency_key is None:
            # Fixed here, so the resend after a 401 carries the same key.
            idempotency_key = uuid.uuid4().hex
        headers = {**self.default_headers, **requests_kwargs.pop("headers", {})}
        if self.exact_json_numbers and json is not None:
            # After the body's key is read: the key travels either way.
            headers["Content-Type"] = "application/json"
            requests_kwargs["data"], json = json_bytes(json), None
        for retry_auth in (True, False):
            try:
                return client_for(self.account).request(
                    method,
                    self.base_url + path,
                    operation=operation,
                    idempotent=idempotent,
                    idempotency_key=idempotency_key,
                    idempotency_header=self.idempotency_header,
                    error_map=error_map or self.error_map,
                    expect_json=expect_json,
                    headers={**headers, **self.auth_headers()},
                    json=json,
                    **requests_kwargs,
                )
            except NotProcessed as error:
                unauthorized = error.http_status == 401 and retry_auth
                if not (unauthorized and self.refresh_auth()):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def _json_object(response: requests.Response, *, allow_empty: bool) -> dict[str, Any]:
    if allow_empty and not response.content:
        return {}
    data = response_json(response)
    if not isinstance(data, dict):
        raise Unknown(
            "provider sent an unexpected body",
            code="malformed_response",
            http_status=response.status_code,
        )
    return data


def path_segment(value: str) -> str:
    """One segment of a request path: an id, quoted whole, so a ``/`` or
    ``?`` in it never changes which resource is asked for."""
    return quote(value, safe="")
