"""hooks48: JSON may carry, escaped, what PostgreSQL's text and jsonb cannot
hold: a lone surrogate ("\\ud800") and NUL ("\\u0000"). A signed body
holding one is valid JSON, signed: every provider's intake accepts it and
stores it as its event (the raw body kept byte for byte, the parsed payload,
event type and dedupe key made storable: WebhookMessage.build), never a
500, never dropped. What no provider can have signed (a lone surrogate in
the signed text itself: no UTF-8 form) is refused as forged, 401.

The table goes through the webhook URL, provider by provider, with the value
in a free-text field, in the event's id and in its type."""

import base64
import hashlib
import hmac
import json
import time

import pytest
import responses
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.test import Client

from integrations.models import WebhookEvent, WebhookStatus
from tests.integrations.intake41_helpers import UNUSABLE
from tests.integrations.webhooks.hooks48_signed import (
    PROVIDERS,
    Signed,
    client_headers,
)
from tests.inventory.contract import harness_netsuite
from tests.shipping.contract import (
    harness_dhl_express,
    harness_fedex,
    harness_ups,
    harness_usps,
)

pytestmark = pytest.mark.django_db

VALUES = {"lone_surrogate": "\ud800", "nul": "\u0000"}
# Where each provider's event names its type.
TYPE_FIELD = {
    "stripe": "type",
    "square": "type",
    "paypal": "event_type",
    "shippo": "event",
    "mailgun": "event",
    "postmark": "RecordType",
    "sendgrid": "event",
    "amazon_ses": "eventType",
    "tradegecko": "event",
    "http_stock": "type",
    "sandbox": "type",
}


def _field(provider: str, place: str) -> str:
    if place == "type":
        return TYPE_FIELD[provider]
    if place == "id":
        # Where the id travels outside the JSON event (a header, the SNS
        # envelope) or is made of other fields (Shippo), a tracking number.
        return PROVIDERS[provider][2] or "tracking_number"
    return "note"


def post(account, signed: Signed):
    client = Client(raise_request_exception=False)
    return client.post(
        f"/webhooks/{account.slug}/{signed.query}",
        data=signed.body,
        content_type="application/json",
        **client_headers(signed.headers),
    )


def _storable(text: str) -> bool:
    return "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _signed(provider: str, edit) -> tuple:
    make, sign, _ = PROVIDERS[provider]
    account = make()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        signed = sign(rsps, account, edit)
        response = post(account, signed)
    return account, signed, response


@pytest.mark.parametrize("value", sorted(VALUES))
@pytest.mark.parametrize("place", ["text", "id", "type"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_signed_body_holding_it_is_stored_as_its_event(provider, place, value):
    name, char = _field(provider, place), VALUES[value]

    def edit(event: dict) -> None:
        target = event.get("data", event) if name == "tracking_number" else event
        target[name] = f"x{char}y"

    account, signed, response = _signed(provider, edit)

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "duplicate": False}
    row = WebhookEvent.objects.get(account=account)
    assert row.event_type != UNUSABLE, row.last_error
    assert row.status == WebhookStatus.RECEIVED
    assert bytes(row.raw_body) == signed.body  # as received
    assert f"\\u{ord(char):04x}" in signed.body.decode("ascii")
    assert _storable(json.dumps(row.payload, ensure_ascii=False))
    assert _storable(row.event_type) and _storable(row.dedupe_key)
    if place == "type":
        assert row.event_type == "x\ufffdy"


@pytest.mark.parametrize(
    "harness", [harness_dhl_express, harness_fedex, harness_ups, harness_usps]
)
def test_a_carrier_without_webhooks_answers_404_and_stores_nothing(harness):
    account = harness.make_account()
    body = json.dumps({"id": "evt_\ud800", "note": "\u0000"}).encode()

    response = post(account, Signed(body))

    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "webhooks_not_supported"
    assert not WebhookEvent.objects.exists()


def test_an_erp_without_webhooks_answers_404_and_stores_nothing():
    account = harness_netsuite.make_account()
    body = json.dumps({"id": "evt_\ud800", "note": "\u0000"}).encode()

    response = post(account, Signed(body))

    assert response.status_code == 404, response.content
    assert not WebhookEvent.objects.exists()


# --- Event ids that differ only in what cannot be stored ---------------------

IDS = ["evt_\ud800", "evt_\udc00", "evt_\u0000", "evt_\ufffd", "evt_"]


def test_events_whose_ids_differ_only_in_unstorable_characters_are_all_kept():
    # The ids replaced by U+FFFD alike: the second was a "duplicate", dropped.
    make, sign, _ = PROVIDERS["stripe"]
    account = make()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hooks = [sign(rsps, account, lambda e, i=i: e.update(id=i)) for i in IDS]
        answers = [post(account, hook).json() for hook in hooks]
        again = post(account, hooks[0]).json()

    assert answers == [{"received": True, "duplicate": False}] * len(IDS)
    assert again == {"received": True, "duplicate": True}  # the same event
    keys = list(
        WebhookEvent.objects.filter(account=account).values_list(
            "dedupe_key", flat=True
        )
    )
    assert len(set(keys)) == len(IDS)
    assert all(_storable(key) for key in keys)
    # An id that could be stored is kept as it is.
    assert {"evt_\ufffd", "evt_"} <= set(keys)


# --- Signed text with no UTF-8 form: no provider can have signed it ----------


def _mailgun(token: str, signature: str | None = None) -> Signed:
    from tests.notifications.contract import harness_mailgun as mg

    stamp = str(int(time.time()))
    # The only bytes such a text has: surrogates passed through as UTF-8 would be.
    signed = (stamp + token).encode("utf-8", "surrogatepass")
    digest = hmac.new(mg.SIGNING_KEY.encode(), signed, hashlib.sha256).hexdigest()
    block = {"timestamp": stamp, "token": token, "signature": signature or digest}
    event = mg.event("failed_permanent")
    return Signed(json.dumps({"signature": block, "event-data": event}).encode())


@pytest.mark.parametrize(
    "signed",
    [
        pytest.param(lambda: _mailgun("tok\ud800en"), id="surrogate-in-token"),
        pytest.param(lambda: _mailgun("token", "ab\ud800cd"), id="in-signature"),
    ],
)
def test_a_mailgun_signature_over_text_no_utf8_has_is_refused_as_forged(signed):
    account = PROVIDERS["mailgun"][0]()

    response = post(account, signed())

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()


def test_a_mailgun_token_holding_nul_is_signed_text_and_stored():
    account = PROVIDERS["mailgun"][0]()

    response = post(account, _mailgun("tok\u0000en"))

    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get(account=account).event_type == "failed"


def test_an_sns_message_signed_over_text_no_utf8_has_is_refused_as_forged():
    from notifications.providers.sns_signature import SIGNED_FIELDS
    from tests.notifications.contract import harness_amazon_ses as ses
    from tests.notifications.signing_keys import (
        SNS_CERT_URL,
        sns_certificate_pem,
        sns_private_key,
    )

    account = ses.make_account()
    hook_fields = json.loads(_ses_body())
    hook_fields["Subject"] = "Amazon SES \ud800"
    text = "".join(
        f"{name}\n{hook_fields[name]}\n"
        for name in SIGNED_FIELDS["Notification"]
        if isinstance(hook_fields.get(name), str)
    )
    raw = sns_private_key().sign(
        text.encode("utf-8", "surrogatepass"), padding.PKCS1v15(), hashes.SHA256()
    )
    hook_fields["Signature"] = base64.b64encode(raw).decode("ascii")
    assert hook_fields["SigningCertURL"] == SNS_CERT_URL
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(SNS_CERT_URL, body=sns_certificate_pem())
        response = post(
            account,
            Signed(
                json.dumps(hook_fields).encode(),
                {"x-amz-sns-message-type": "Notification"},
            ),
        )

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()


def _ses_body() -> bytes:
    from tests.notifications.contract import harness_amazon_ses as ses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        return ses.notification(rsps, ses.event("bounce")).body
