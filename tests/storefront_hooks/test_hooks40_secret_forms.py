"""hooks40 item 2: more forms a receiver may quote our signing secret back
in, masked in the answer stored for staff: the base64 key without its "="
padding, HTML character references (Go's html/template writes "+" as
"&#43;", OWASP's encoder "/" as "&#x2F;"), JSON-escaped then URL-encoded
("\\/" as "%5C%2F", or "%5C/" by urllib's quote), JSON's "\\u002B" (.NET's
encoder), upper-case hex throughout, and each cut off where the answer
ends."""

import json
import re
from urllib.parse import quote, quote_plus

import pytest

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services.excerpt import staff_excerpt
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def _secret_with_every_escape(endpoint, secret: str) -> str:
    while "+" not in secret or "/" not in secret:
        secret = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=0)
    return secret


def _html(text: str, style: str) -> str:
    refs = {
        "go": {"+": "&#43;", "=": "&#61;"},
        "owasp": {"/": "&#x2F;", "+": "&#x2B;", "=": "&#x3D;"},
        "lower": {"/": "&#x2f;", "+": "&#x2b;", "=": "&#x3d;"},
        "named": {"/": "&sol;", "+": "&plus;", "=": "&equals;"},
    }[style]
    return "".join(refs.get(c, c) for c in text)


def _lower_hex(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def _json_unicode(text: str) -> str:
    return "".join(f"\\u{ord(c):04X}" if c in "+/=" else c for c in text)


def _forms(secret: str) -> dict[str, str]:
    key = secret.removeprefix("whsec_")
    json_escaped = json.dumps(secret)[1:-1].replace("/", "\\/")
    return {
        "unpadded": f'{{"key":"{key.rstrip("=")}","ok":false}}',
        "unpadded_prefixed": f"secret {secret.rstrip('=')} rejected",
        "html_go": f"<p>{_html(secret, 'go')}</p>",
        "html_owasp": f"<p>{_html(key, 'owasp')}</p>",
        "html_lower": f"<b>{_html(key, 'lower')}</b>",
        "html_named": f"<b>{_html(key, 'named')}</b>",
        "json_then_url": f"echo={quote_plus(json_escaped)}&x=1",
        "json_then_quote": f"echo={quote(json_escaped)}&x=1",
        "json_then_url_lower": f"echo={_lower_hex(quote_plus(json_escaped))}&x=1",
        "json_unicode": '{"k":"' + _json_unicode(secret) + '"}',
        "every_char_upper": "k=" + "".join(f"%{ord(c):02X}" for c in key) + "&",
    }


def _readable(stored: str, secret: str) -> bool:
    key = secret.removeprefix("whsec_")
    return any(key[n : n + 12] in stored for n in range(0, len(key) - 12, 4))


def _decoded(text: str) -> str:
    """What staff would read out of ``text`` with a decoder at hand."""
    import html
    from urllib.parse import unquote

    once = html.unescape(unquote(text))
    return once.replace("\\/", "/").encode().decode("unicode_escape", "replace")


@pytest.mark.parametrize("form", sorted(_forms("whsec_x")))
def test_a_receiver_echoing_the_secret_in_this_form_is_masked(
    receiver, make_endpoint, form
):
    endpoint, secret = make_endpoint()
    secret = _secret_with_every_escape(endpoint, secret)
    answer = _forms(secret)[form]
    assert _readable(_decoded(answer), secret)
    receiver.route("POST", HOOK_PATH, respond(400, body=answer.encode()))
    delivery = services.test_event_send(endpoint=endpoint)

    services.delivery_send(delivery_id=delivery.pk)

    stored = WebhookDelivery.objects.get(pk=delivery.pk).last_response
    assert "[redacted]" in stored
    assert not _readable(_decoded(stored), secret), stored


@pytest.mark.parametrize("form", sorted(_forms("whsec_x")))
def test_the_form_cut_off_where_the_answer_ends_is_masked(make_endpoint, form):
    endpoint, secret = make_endpoint()
    secret = _secret_with_every_escape(endpoint, secret)
    answer = _forms(secret)[form]
    key = secret.removeprefix("whsec_")
    # Cut 20 characters into where the key begins (its escapes included).
    begins = min(
        at for at in range(len(answer)) if key[:4] in _decoded(answer[at : at + 40])[:8]
    )
    for end in range(begins + 12, begins + 40):
        stored = staff_excerpt(answer[:end])
        decoded = _decoded(stored)
        assert not any(key[n : n + 10] in decoded for n in range(len(key) - 10)), (
            end,
            stored,
        )
