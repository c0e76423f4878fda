"""intake41: a validly signed payment webhook whose body we cannot use (an
array, a scalar, empty, not JSON, an event without its id or type) is
stored dead with its error and answered 2xx, not refused unstored: the
provider stops retrying and staff see it."""

import base64
import json
import time
from urllib.parse import urlencode

import pytest
import stripe

from payments.providers.square import sign_webhook
from tests.factories import ProviderAccountFactory
from tests.integrations.intake41_helpers import (
    JUNK,
    assert_refused_unstored,
    assert_stored_unusable,
    post,
)
from tests.integrations.intake_payments import (
    BT_PUBLIC,
    STRIPE_SECRET,
)
from tests.integrations.intake_payments import braintree_account as _braintree_account
from tests.integrations.intake_payments import bt_form as _bt_form
from tests.integrations.intake_payments import paypal_account as _paypal_account
from tests.integrations.intake_payments import paypal_post as _paypal_post
from tests.integrations.intake_payments import stripe_account as _stripe_account

pytestmark = pytest.mark.django_db

SQUARE_KEY = "sq-signature-key-switchyard"
SQUARE_URL = "https://shop.example/webhooks/square-main/"


def _stripe_post(account, body: bytes, secret: str = STRIPE_SECRET):
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=int(time.time())
    )
    return post(account, body, HTTP_STRIPE_SIGNATURE=header)


STRIPE_BODIES = {
    **JUNK,
    "no_id": json.dumps({"type": "charge.succeeded", "data": {}}).encode(),
    "no_type": json.dumps({"id": "evt_1", "data": {}}).encode(),
}


@pytest.mark.parametrize("case", sorted(STRIPE_BODIES))
def test_signed_unusable_stripe_body_is_stored_dead(case):
    account = _stripe_account()
    body = STRIPE_BODIES[case]
    assert_stored_unusable(account, _stripe_post(account, body), body)


def test_forged_unusable_stripe_body_stays_unstored():
    account = _stripe_account()
    response = _stripe_post(account, b"[]", secret="whsec_someone_else")
    assert_refused_unstored(response, 401)


def _square_account():
    return ProviderAccountFactory(
        provider="square",
        slug="square-main",
        settings={"location_id": "L1", "notification_url": SQUARE_URL},
        credentials={"access_token": "EAAA-token", "webhook_signature_key": SQUARE_KEY},
    )


def _square_post(account, body: bytes, key: str = SQUARE_KEY):
    signature = sign_webhook(key=key, notification_url=SQUARE_URL, body=body)
    return post(account, body, HTTP_X_SQUARE_HMACSHA256_SIGNATURE=signature)


SQUARE_BODIES = {
    **JUNK,
    "no_event_id": json.dumps({"type": "payment.updated", "data": {}}).encode(),
    "no_type": json.dumps({"event_id": "e-1", "data": {}}).encode(),
}


@pytest.mark.parametrize("case", sorted(SQUARE_BODIES))
def test_signed_unusable_square_body_is_stored_dead(case):
    account = _square_account()
    body = SQUARE_BODIES[case]
    assert_stored_unusable(account, _square_post(account, body), body)


def test_forged_unusable_square_body_stays_unstored():
    account = _square_account()
    assert_refused_unstored(_square_post(account, b"[]", key="guess"), 401)


@pytest.mark.parametrize(
    "payload",
    [
        b"not xml",
        b"<notification></notification>",
        b'<?xml version="1.0"?><notification><kind>x</kind></notification>',
        b"<other><kind>check</kind></other>",
    ],
)
def test_signed_unusable_braintree_notification_is_stored_dead(payload):
    account = _braintree_account()
    body = _bt_form(payload)
    response = post(account, body)
    assert_stored_unusable(account, response, body)


def test_forged_braintree_notification_stays_unstored():
    account = _braintree_account()
    response = post(account, _bt_form(b"not xml", private="guess"))
    assert_refused_unstored(response, 401)


@pytest.mark.parametrize(
    "signature", [f"{BT_PUBLIC}|a|b", f"other|{'0' * 40}", "|", f"{BT_PUBLIC}|"]
)
def test_unsigned_braintree_payload_the_sdk_chokes_on_stays_unstored(signature):
    # Whatever the SDK raises, only a payload carrying this account's HMAC is
    # taken as signed: an odd signature never gets a body stored.
    account = _braintree_account()
    encoded = base64.encodebytes(b"not xml").decode()
    body = urlencode({"bt_signature": signature, "bt_payload": encoded}).encode()
    response = post(account, body)
    assert 400 <= response.status_code < 500, response.content
    assert_refused_unstored(response, response.status_code)


@pytest.mark.parametrize(
    "event",
    [
        {"event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}},
        {"id": "WH-1", "resource": {}},
        {"id": "", "event_type": 5},
    ],
)
def test_verified_paypal_event_without_its_id_or_type_is_stored_dead(event):
    account = _paypal_account()
    body = json.dumps(event).encode()
    assert_stored_unusable(account, _paypal_post(account, body, "SUCCESS"), body)


def test_paypal_event_paypal_does_not_confirm_stays_unstored():
    account = _paypal_account()
    body = json.dumps({"event_type": "PAYMENT.CAPTURE.COMPLETED"}).encode()
    assert_refused_unstored(_paypal_post(account, body, "FAILURE"), 401)


@pytest.mark.parametrize("case", ["empty", "not_json"])
def test_paypal_body_that_is_no_json_cannot_be_verified_and_stays_unstored(case):
    # PayPal verifies by its API, which takes the event back inside a JSON
    # request: a body that is no JSON cannot be verified, so it is refused,
    # never stored. (JSON but no object is verified and stored: intake43.)
    account = _paypal_account()
    assert_refused_unstored(_paypal_post(account, JUNK[case], "SUCCESS"), 400)
