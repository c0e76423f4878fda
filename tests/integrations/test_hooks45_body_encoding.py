"""hooks45: a webhook body that is not JSON in UTF-8 (a BOM, UTF-16/32),
provider by provider. Python's JSON reader takes all of them.

Where the signature does not cover the raw body bytes (Shippo's URL token,
Postmark's password, Mailgun's signed fields inside the body, Amazon SNS's
signed field values, PayPal's verification call, Braintree's bt_payload),
what was verified is not those bytes: such a body is refused 400
malformed_request before the check, counted, stored nowhere, as PayPal's
already was (test_intake44_paypal_bodies).

Where it does (Stripe, Square, SendGrid, TradeGecko, Standard Webhooks: the
stock service, the sandboxes), only the signer could have sent those bytes,
and reading them is one reading: accepted and stored as the event."""

import codecs
import hashlib
import hmac
import json
import time

import pytest
import responses

from integrations import registry
from integrations.models import WebhookEvent
from integrations.providers.base import BaseAdapter
from integrations.registry import get_adapter
from integrations.webhooks.verification import RequestHeaders, signed_headers
from payments.providers.square import sign_webhook
from tests.factories import ProviderAccountFactory
from tests.integrations.intake41_helpers import UNUSABLE, assert_refused_unstored
from tests.integrations.intake42_helpers import REFUND_EVENT, post, standard
from tests.integrations.intake43_helpers import refusals
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.contract import harness_tradegecko as tg
from tests.notifications.contract import (
    harness_amazon_ses,
    harness_mailgun,
    harness_postmark,
    harness_sendgrid,
)
from tests.notifications.signing_keys import sendgrid_sign
from tests.payments.contract import harness_square, harness_stripe
from tests.shipping.contract import harness_shippo

pytestmark = pytest.mark.django_db


def _encodings(text: str) -> dict[str, bytes]:
    return {
        "utf8_bom": codecs.BOM_UTF8 + text.encode(),
        "utf16": text.encode("utf-16"),
        "utf16_le_no_bom": text.encode("utf-16-le"),
        "utf32": text.encode("utf-32"),
    }


ENCODINGS = sorted(_encodings("{}"))


def _kwargs(headers: dict[str, str]) -> dict[str, str]:
    return {
        f"HTTP_{k.upper().replace('-', '_')}": v
        for k, v in headers.items()
        if k.lower() != "content-type"
    }


# --- Not covered by the signature: refused ------------------------------------

UNCOVERED = {
    "shippo": harness_shippo,
    "postmark": harness_postmark,
    "mailgun": harness_mailgun,
    "amazon_ses": harness_amazon_ses,
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("provider", sorted(UNCOVERED))
def test_a_body_not_in_utf8_is_refused_where_the_bytes_are_not_signed(
    provider, encoding
):
    harness = UNCOVERED[provider]
    account = harness.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness.webhook_valid(rsps, account)
        text = hook.body.decode()
        query = "?" + hook.url.split("?", 1)[1] if "?" in (hook.url or "") else ""
        kwargs = _kwargs(dict(hook.headers))
        before = refusals(account.slug, "malformed_request")

        response = post(account, _encodings(text)[encoding], query=query, **kwargs)

        assert_refused_unstored(response, 400)
        error = response.json()["error"]
        assert error["code"] == "malformed_request"
        assert "(JSON in UTF-8)" in error["message"]
        assert refusals(account.slug, "malformed_request") == before + 1
        # As sent, in UTF-8, the same credential passes (and Mailgun's
        # token was not spent on the refusal).
        ok = post(account, hook.body, query=query, **kwargs)
    assert ok.status_code == 200, ok.content


def test_every_provider_taking_webhooks_says_whether_it_signs_the_body():
    # A provider added without this audit reads as "not signed": refused.
    signs = {
        cls.code
        for cls in _adapters()
        if cls.webhook_signing_credential and cls.webhook_signs_body
    }
    assert {"stripe", "square", "sendgrid", "tradegecko", "http_stock"} <= signs
    assert not signs & {"shippo", "postmark", "mailgun", "amazon_ses", "paypal"}
    assert not signs & {"braintree"}


def _adapters() -> list[type[BaseAdapter]]:
    return [
        registry.get_adapter_class(kind, code)
        for kind in registry.kinds()
        for code in registry.provider_codes(kind)
    ]


# --- Covered by the signature: read as signed ---------------------------------


def _stripe(body: bytes) -> dict[str, str]:
    stamp = int(time.time())
    digest = hmac.new(
        harness_stripe.WEBHOOK_SECRET.encode(),
        f"{stamp}.".encode() + body,
        hashlib.sha256,
    ).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={digest}"}


def _square(body: bytes) -> dict[str, str]:
    url = harness_square.Webhook.__dataclass_fields__["url"].default
    key = harness_square.SIGNATURE_KEY
    return {
        "x-square-hmacsha256-signature": sign_webhook(
            key=key, notification_url=url, body=body
        )
    }


def _sendgrid(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        harness_sendgrid.TIMESTAMP_HEADER: stamp,
        harness_sendgrid.SIGNATURE_HEADER: sendgrid_sign(body, stamp),
    }


def _tradegecko(body: bytes) -> dict[str, str]:
    return {"X-Gecko-Delivery": "d-hooks45", "X-Gecko-Signature": tg.signed(body)}


def _standard(body: bytes) -> dict[str, str]:
    stamp = int(time.time())
    return signed_headers(
        secret=hs.SECRET, webhook_id="msg_45", body=body, timestamp=stamp
    )


COVERED = {
    "stripe": (harness_stripe, _stripe),
    "square": (harness_square, _square),
    "sendgrid": (harness_sendgrid, _sendgrid),
    "tradegecko": (tg, _tradegecko),
    "http_stock": (hs, _standard),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("provider", sorted(COVERED))
def test_a_signed_body_not_in_utf8_is_read_where_the_bytes_are_signed(
    provider, encoding
):
    harness, sign = COVERED[provider]
    account = harness.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness.webhook_valid(rsps, account)
        plain = get_adapter(account).webhook_messages(
            body=hook.body,
            headers=RequestHeaders(_lower(sign(hook.body))),
            url=hook.url,
        )
        body = _encodings(hook.body.decode())[encoding]
        read = get_adapter(account).webhook_messages(
            body=body, headers=RequestHeaders(_lower(sign(body))), url=hook.url
        )
    assert read == plain


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_signed_sandbox_body_not_in_utf8_is_stored_as_its_event(encoding):
    account = ProviderAccountFactory(slug="sbx-pay")
    body = _encodings(REFUND_EVENT.decode())[encoding]

    response = post(account, body, **standard(body, "msg_45"))

    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get(account=account)
    assert row.event_type != UNUSABLE
    assert row.dedupe_key == "msg_45"
    assert bytes(row.raw_body) == body
    assert json.loads(body) == json.loads(REFUND_EVENT)
