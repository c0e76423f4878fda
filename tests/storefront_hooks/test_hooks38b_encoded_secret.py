"""hooks38b item 2: a receiver that quotes our signing secret back
URL-encoded (echoing a form-encoded request: %2B, %2F, %3D, in upper or
lower case hex, or with "/" left raw as urllib's quote leaves it) cannot
bring it back readable in the answer stored for staff, whole or cut off
where the answer ends."""

import json
import logging
from urllib.parse import quote, quote_plus, urlencode

import pytest

from integrations.models import ProviderCall
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db
MAX = 256


def _lower_hex(text: str) -> str:
    return text.replace("%2B", "%2b").replace("%2F", "%2f").replace("%3D", "%3d")


def _encodings(value: str) -> list[str]:
    plus = quote_plus(value)
    return [value, plus, _lower_hex(plus), quote(value)]


def _pieces(secret: str) -> list[str]:
    key = secret.removeprefix("whsec_")
    pieces = []
    for value in (secret, key, key[:12], key[-12:]):
        pieces += _encodings(value)
    return pieces


def _stored(endpoint: WebhookEndpoint) -> str:
    rows = list(WebhookDelivery.objects.filter(endpoint=endpoint).values())
    calls = list(ProviderCall.objects.filter(account=endpoint.account).values())
    return json.dumps([rows, calls], default=str)


def _secret_with_every_escape(endpoint: WebhookEndpoint, secret: str) -> str:
    # Base64 of 32 bytes always ends in "="; a "+" and a "/" too, for the
    # encodings that differ on them.
    while "+" not in secret or "/" not in secret:
        secret = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=0)
    return secret


def _echoes(secret: str) -> dict[str, str]:
    key = secret.removeprefix("whsec_")
    form = urlencode({"event": "webhook.test", "secret": secret})
    return {
        "form": f"you sent: {form}&end=1",
        "plus_lower": f"secret={_lower_hex(quote_plus(secret))}; bye",
        "quote_keeps_slash": f"secret={quote(secret)} bye",
        "bare_key": f"key={quote_plus(key)} bye",
        "json_of_form": json.dumps({"echo": form}).replace("/", "\\/"),
        "cut": "x" * (MAX - 40) + "secret=" + quote_plus(secret),
        "cut_mid_escape": "x" * (MAX - 40) + "s=" + quote_plus(secret),
        "twice": f"s={quote_plus(secret)}&" + "x" * 100 + "&s=" + quote_plus(secret),
    }


SHAPES = list(_echoes("whsec_a+b/c=").keys())


@pytest.mark.parametrize("shape", SHAPES)
def test_a_url_encoded_secret_is_masked_in_the_stored_answer(
    settings, receiver, make_endpoint, caplog, shape
) -> None:
    caplog.set_level(logging.DEBUG)
    settings.STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES = MAX
    endpoint, secret = make_endpoint()
    secret = _secret_with_every_escape(endpoint, secret)
    echoed = _echoes(secret)[shape]
    if shape == "cut_mid_escape":
        # The bound falls inside a "%2B"-like escape.
        at = echoed.index("%", MAX - 30)
        settings.STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES = at + 2
    receiver.route("POST", HOOK_PATH, respond(500, body=echoed.encode()))

    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "[redacted]" in delivery.last_response
    stored = _stored(endpoint)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    for piece in _pieces(secret):
        assert piece not in stored, (piece, delivery.last_response)
        assert piece not in logged, piece


def test_text_around_an_encoded_secret_is_kept(
    settings, receiver, make_endpoint
) -> None:
    endpoint, secret = make_endpoint()
    secret = _secret_with_every_escape(endpoint, secret)
    echoed = f"before %41%2F {quote_plus(secret)} after %zz 100%"
    receiver.route("POST", HOOK_PATH, respond(500, body=echoed.encode()))

    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.last_response == "before %41%2F [redacted] after %zz 100%"
