"""hooks46: where the signature does not cover the raw body (Shippo's URL
token, Postmark's password, Mailgun's signed fields, Amazon SNS's signed
field values, PayPal's verification call, Braintree's bt_payload), a body
not in UTF-8 was refused 400 malformed_request before the signature was
checked: an unauthenticated sender learnt how its body was read. Now the
signature comes first: forged, such a body is refused as every forgery is
(401 invalid_signature); signed, it is still refused 400 before it is read.
"""

import codecs

import pytest
import responses

from integrations.models import WebhookEvent
from tests.integrations.intake41_helpers import assert_refused_unstored
from tests.integrations.intake42_helpers import post
from tests.notifications.contract import (
    harness_amazon_ses,
    harness_mailgun,
    harness_postmark,
)
from tests.payments.contract import harness_braintree, harness_paypal
from tests.shipping.contract import harness_shippo

pytestmark = pytest.mark.django_db

PROVIDERS = {
    "shippo": harness_shippo,
    "postmark": harness_postmark,
    "mailgun": harness_mailgun,
    "amazon_ses": harness_amazon_ses,
    "paypal": harness_paypal,
    "braintree": harness_braintree,
}
ENCODINGS = ("utf8_bom", "utf16", "utf16_le_no_bom", "utf32", "stray_byte")


def _encoded(body: bytes, encoding: str) -> bytes:
    """``body`` in another encoding; ``stray_byte``: one more field whose
    value holds a byte no UTF-8 has (the signature left as it is)."""
    text = body.decode()
    if encoding == "stray_byte":
        if text.lstrip().startswith("{"):
            return b'{"note": "caf\xe9", ' + body.lstrip()[1:]
        return body + b"&note=caf\xe9"  # Braintree's form
    return {
        "utf8_bom": codecs.BOM_UTF8 + body,
        "utf16": text.encode("utf-16"),
        "utf16_le_no_bom": text.encode("utf-16-le"),
        "utf32": text.encode("utf-32"),
    }[encoding]


def _request(hook) -> dict:
    query = "?" + hook.url.split("?", 1)[1] if "?" in (hook.url or "") else ""
    headers = {
        f"HTTP_{k.upper().replace('-', '_')}": v
        for k, v in hook.headers.items()
        if k.lower() != "content-type"
    }
    return {"query": query, **headers}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_forged_body_not_in_utf8_is_refused_as_forged(provider, encoding):
    harness = PROVIDERS[provider]
    account = harness.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness.webhook_forged(rsps, account)
        as_sent = post(account, hook.body, **_request(hook))
        assert as_sent.status_code == 401, as_sent.content  # the forgery, in UTF-8

        response = post(account, _encoded(hook.body, encoding), **_request(hook))

    assert_refused_unstored(response, 401)
    assert response.json()["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_signed_body_not_in_utf8_is_still_refused_malformed(provider, encoding):
    harness = PROVIDERS[provider]
    account = harness.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness.webhook_valid(rsps, account)

        response = post(account, _encoded(hook.body, encoding), **_request(hook))

        assert_refused_unstored(response, 400)
        error = response.json()["error"]
        assert error["code"] == "malformed_request"
        assert f"({harness_format(provider)})" in error["message"]
        # As sent, the same request passes (Mailgun's token was not spent).
        ok = post(account, hook.body, **_request(hook))
    assert ok.status_code == 200, ok.content
    assert WebhookEvent.objects.filter(account=account).count() == 1


def harness_format(provider: str) -> str:
    return "a form in UTF-8" if provider == "braintree" else "JSON in UTF-8"


@pytest.mark.parametrize("encoding", ["utf8_bom", "utf16", "utf32"])
def test_paypal_is_asked_about_the_bodys_text_as_sent_in_utf8(encoding):
    # Its verification call carries the event inside a JSON request: the
    # text of a body in another encoding goes in UTF-8, byte for byte.
    account = harness_paypal.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness_paypal.webhook_forged(rsps, account)

        post(account, _encoded(hook.body, encoding), **_request(hook))

        asked = [c for c in rsps.calls if "verify-webhook-signature" in c.request.url]
    assert len(asked) == 1
    assert asked[0].request.body.endswith(b',"webhook_event":' + hook.body + b"}")
