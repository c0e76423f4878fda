"""Canary secrets for issue 17, part 3: a unique secret planted in every
credential field of an account, and each gateway's error answers echoing all
of them back in the fields its published error shape has.

Error bodies are the published examples in tests/fixtures/<gateway>/ with the
secrets added to their text fields:

- Stripe (errors.json, from stripe/openapi fixtures3.json): ``error.message``
  and ``error.param``;
- PayPal (error_*.json, from PayPal's Orders v2 / Payments v2 error
  examples): ``message``, ``details[].description``, ``details[].field``,
  ``details[].value``, and the OAuth shape's ``error_description``;
- Square (errors.json, from Square's OpenAPI ``Error`` examples):
  ``errors[].detail`` and ``errors[].field``;
- Braintree (error_processor_declined.xml, error_amount_invalid.xml, from the
  gateway's XML as the official SDK parses it): every ``<message>``,
  ``<processor-response-text>`` and ``<additional-processor-response>``.

``Echo`` stands between the fault server and one of tests/payments/fakes:
while armed, every write the adapter sends (other than its OAuth token and
webhook verification calls) is answered with such an error.
"""

import base64
import copy
import json
import re
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.db import connection

from integrations import registry
from integrations.testing.faultserver import Behaviour, RecordedRequest, respond
from tests.payments.fakes.base import FakeGateway

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ERROR_KINDS = ("decline", "validation", "401", "429", "500", "malformed")
XML = {"Content-Type": "application/xml; charset=utf-8"}
# Calls that are not the operation under test: the token and verification.
_EXEMPT = ("/v1/oauth2/token", "/v1/notifications/verify-webhook-signature")


def oauth_tokens(provider: str) -> tuple[str, ...]:
    """The access tokens the fake hands out (PayPal: oauth_token.json)."""
    if provider != "paypal":
        return ()
    return (_json("paypal", "oauth_token.json")["access_token"],)


def _json(provider: str, name: str) -> Any:
    return json.loads((FIXTURES / provider / name).read_text())


_PREFIXES = {("sandbox", "api_key"): "sbx_", ("stripe", "secret_key"): "sk_test_"}


def canaries(provider: str) -> dict[str, str]:
    """A unique secret for every credential field of ``provider``'s adapter."""
    adapter = registry.get_adapter_class("payments", provider)
    planted = {}
    for field in adapter.credential_fields:
        value = f"cnry_{provider}_{field.name}_{uuid.uuid4().hex[:12]}"
        # Prefixes the adapters check: the sandbox's key, Stripe's test mode.
        value = _PREFIXES.get((provider, field.name), "") + value
        if provider == "sandbox" and field.name == "webhook_secret":
            # Standard Webhooks secrets are whsec_ + base64.
            value = "whsec_" + base64.b64encode(value.encode()).decode()
        planted[field.name] = value
    return planted


# --- Each gateway's error, echoing ---------------------------------------------


def stripe_error(kind: str, echo: str) -> Behaviour:
    name, status = {
        "decline": ("generic_decline", 402),
        "validation": ("parameter_missing", 400),
        "401": ("invalid_api_key", 401),
        "429": ("rate_limit", 429),
        "500": ("api_error", 500),
    }[kind]
    body = copy.deepcopy(_json("stripe", "errors.json")[name])
    body["error"]["message"] = f"{body['error'].get('message', '')} {echo}"
    body["error"]["param"] = echo
    return respond(status, json=body, headers=_retry_after(kind))


def paypal_error(kind: str, echo: str) -> Behaviour:
    name, status = {
        "decline": ("error_instrument_declined.json", 422),
        "validation": ("error_invalid_request.json", 400),
        "401": ("error_authentication_failure.json", 401),
        "429": ("error_rate_limit.json", 429),
        "500": ("error_internal.json", 500),
    }[kind]
    body = _json("paypal", name)
    for key in ("message", "error_description"):
        if key in body:
            body[key] = f"{body[key]} {echo}"
    for detail in body.get("details", []):
        detail.update(
            description=f"{detail.get('description', '')} {echo}",
            field=echo,
            value=echo,
        )
    return respond(status, json=body, headers=_retry_after(kind))


def square_error(kind: str, echo: str) -> Behaviour:
    name, status = {
        "decline": ("GENERIC_DECLINE", 402),
        "validation": ("MISSING_REQUIRED_PARAMETER", 400),
        "401": ("UNAUTHORIZED", 401),
        "429": ("RATE_LIMITED", 429),
        "500": ("INTERNAL_SERVER_ERROR", 500),
    }[kind]
    body = copy.deepcopy(_json("square", "errors.json")[name])
    for error in body["errors"]:
        error.update(detail=f"{error.get('detail', '')} {echo}", field=echo)
    return respond(status, json=body, headers=_retry_after(kind))


def braintree_error(kind: str, echo: str) -> Behaviour:
    if kind in ("401", "429", "500"):
        # The SDK raises by status alone; the body still quotes us.
        text = f"<error><message>{echo}</message></error>"
        return respond(int(kind), body=text.encode(), headers=XML)
    name = (
        "error_processor_declined.xml"
        if kind == "decline"
        else "error_amount_invalid.xml"
    )
    text = (FIXTURES / "braintree" / name).read_text()
    text = re.sub(r"<message>([^<]*)</message>", rf"<message>\1 {echo}</message>", text)
    text = text.replace(
        "<processor-response-text>Do Not Honor</processor-response-text>",
        f"<processor-response-text>Do Not Honor {echo}</processor-response-text>",
    ).replace(
        '<additional-processor-response nil="true"/>',
        f"<additional-processor-response>{echo}</additional-processor-response>",
    )
    return respond(422, body=text.encode(), headers=XML)


ERRORS = {
    "stripe": stripe_error,
    "paypal": paypal_error,
    "square": square_error,
    "braintree": braintree_error,
}


def _retry_after(kind: str) -> dict[str, str] | None:
    return {"Retry-After": "0"} if kind == "429" else None


def malformed(provider: str, echo: str) -> Behaviour:
    """A 2xx whose body cannot be parsed, quoting the secrets."""
    if provider == "braintree":
        return respond(201, body=f"<transaction><id>{echo}</id>".encode(), headers=XML)
    return respond(200, body=f'{{"id": "{echo}", "status": '.encode())


class Echo:
    """While armed with an error kind, answers the adapter's writes with that
    error echoing every planted secret; otherwise passes to the fake."""

    def __init__(
        self,
        fake: FakeGateway,
        provider: str,
        planted: dict[str, str],
        tokens: tuple[str, ...] = (),
    ):
        self.fake, self.provider = fake, provider
        # ``tokens``: secrets no row holds (PayPal's OAuth access token).
        self.tokens = tokens
        self.echo = " ".join([*planted.values(), *tokens])
        self.kind = ""
        self.hits = 0
        self.merchant = planted.get("merchant_id", "")
        fake.server.fake = self

    @contextmanager
    def armed(self, kind: str) -> Iterator[None]:
        self.kind, hits = kind, self.hits
        try:
            yield
        finally:
            self.kind = ""
        assert self.hits > hits, f"the {kind} error never reached the adapter"

    def dispatch(self, request: RecordedRequest) -> Behaviour:
        if self.merchant:
            # The Braintree fake serves its own merchant's paths.
            path = request.path.replace(
                f"/merchants/{self.merchant}/", "/merchants/fault_merchant/"
            )
            request = replace(request, path=path)
        if request.path == _EXEMPT[1]:
            if self.kind:
                self.hits += 1
                return paypal_error("validation", self.echo)
            return respond(200, json=_json("paypal", "verify_success.json"))
        write = request.method in ("POST", "PUT") and request.path not in _EXEMPT
        if self.kind and write and "search" not in request.path:
            self.hits += 1
            if self.kind == "malformed":
                return malformed(self.provider, self.echo)
            return ERRORS[self.provider](self.kind, self.echo)
        return self.fake.dispatch(request)


# --- Where a secret could end up ------------------------------------------------


def stored_texts() -> Iterator[tuple[str, str, str]]:
    """(table, column, text) for every cell of every table, decoded where it
    is encoded (base64, zlib: pickled task arguments, cache entries)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    for text in _decoded(value):
                        yield table, column, text


def _decoded(value: Any) -> Iterator[str]:
    if value is None or isinstance(value, int | float | bool):
        return
    if isinstance(value, memoryview | bytes):
        raw = bytes(value)
        yield raw.decode("latin-1")
        yield from _unpacked(raw)
        return
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    yield text
    for part in text.split(":")[0].lstrip(".").split():
        try:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except ValueError:
            continue
        yield raw.decode("latin-1")
        yield from _unpacked(raw)


def _unpacked(raw: bytes) -> Iterator[str]:
    try:
        yield zlib.decompress(raw).decode("latin-1")
    except zlib.error:
        return


def leaks(texts: Iterator[tuple[str, ...]] | list, secrets: list[str]) -> list:
    """Every (where..., secret) pair in which a secret shows."""
    found = []
    for *where, text in texts:
        found.extend((*where, s) for s in secrets if s in text)
    return found
