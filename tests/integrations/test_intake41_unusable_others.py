"""intake41: a validly signed carrier, email or inventory webhook whose body
we cannot use (an array, a scalar, empty, not JSON, an event without its
type) is stored dead with its error and answered 2xx, never refused
unstored. Where the signature travels in the body (Mailgun, SNS) a body
that is no signed envelope cannot be verified and stays refused, unstored."""

import base64
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import responses

from integrations.webhooks.verification import signed_headers
from tests.contract.sandbox import SECRET
from tests.integrations.intake41_helpers import (
    JUNK,
    assert_refused_unstored,
    assert_stored_unusable,
    post,
)
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.contract import harness_tradegecko as tg
from tests.notifications.contract import (
    harness_amazon_ses,
    harness_mailgun,
    harness_postmark,
    harness_sendgrid,
)
from tests.notifications.signing_keys import (
    SNS_CERT_URL,
    sendgrid_sign,
    sns_body,
    sns_certificate_pem,
)
from tests.shipping.contract import harness_shippo
from tests.shipping.helpers import carrier

pytestmark = pytest.mark.django_db


def _standard(body: bytes, secret: str = SECRET) -> dict[str, str]:
    raw = signed_headers(
        secret=secret,
        webhook_id=f"msg_{uuid.uuid4().hex}",
        body=body,
        timestamp=int(time.time()),
    )
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in raw.items()}


NO_TYPE = {**JUNK, "no_type": b'{"data": {}}'}


# --- Carriers -----------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(NO_TYPE))
def test_signed_unusable_sandbox_tracking_webhook_is_stored_dead(case):
    account = carrier("sbx-ship")
    body = NO_TYPE[case]
    assert_stored_unusable(account, post(account, body, **_standard(body)), body)


SHIPPO = {**JUNK, "no_event": b'{"data": {"tracking_number": "1Z"}}'}


@pytest.mark.parametrize("case", sorted(SHIPPO))
def test_shippo_webhook_with_its_token_and_an_unusable_body_is_stored_dead(case):
    account = harness_shippo.make_account()
    body = SHIPPO[case]
    query = f"?token={harness_shippo.WEBHOOK_TOKEN}"
    assert_stored_unusable(account, post(account, body, query=query), body)


def test_shippo_webhook_with_a_wrong_token_stays_unstored():
    account = harness_shippo.make_account()
    assert_refused_unstored(post(account, b"[]", query="?token=guess"), 401)


# --- Email --------------------------------------------------------------------


def _sendgrid(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP": stamp,
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE": sendgrid_sign(body, stamp),
    }


SENDGRID = {"object": b'{"event": "delivered"}', "scalar": b"42", "empty": b""}
SENDGRID["not_json"] = JUNK["not_json"]


@pytest.mark.parametrize("case", sorted(SENDGRID))
def test_signed_sendgrid_body_that_is_no_event_array_is_stored_dead(case):
    account = harness_sendgrid.make_account()
    body = SENDGRID[case]
    assert_stored_unusable(account, post(account, body, **_sendgrid(body)), body)


def _postmark(password: str = harness_postmark.WEBHOOK_PASSWORD) -> dict[str, str]:
    pair = f"{harness_postmark.WEBHOOK_USER}:{password}"
    return {"HTTP_AUTHORIZATION": f"Basic {base64.b64encode(pair.encode()).decode()}"}


POSTMARK = {**JUNK, "no_record_type": b'{"MessageID": "m1"}'}


@pytest.mark.parametrize("case", sorted(POSTMARK))
def test_authenticated_unusable_postmark_body_is_stored_dead(case):
    account = harness_postmark.make_account()
    body = POSTMARK[case]
    assert_stored_unusable(account, post(account, body, **_postmark()), body)


def test_postmark_body_with_wrong_credentials_stays_unstored():
    account = harness_postmark.make_account()
    assert_refused_unstored(post(account, b"[]", **_postmark("guess")), 401)


def _mailgun(data: object) -> bytes:
    payload = json.loads(harness_mailgun.signed({}).body)
    payload["event-data"] = data
    return json.dumps(payload).encode()


@pytest.mark.parametrize("data", [None, [], "x", {"id": "e1"}, {"event": 5}])
def test_signed_mailgun_webhook_without_usable_event_data_is_stored_dead(data):
    account = harness_mailgun.make_account()
    body = _mailgun(data)
    assert_stored_unusable(account, post(account, body), body)


@pytest.mark.parametrize("case", sorted(JUNK))
def test_mailgun_body_that_is_no_signed_envelope_stays_unstored(case):
    # Mailgun signs inside the body: without the envelope nothing is signed.
    account = harness_mailgun.make_account()
    assert_refused_unstored(post(account, JUNK[case]), 400)


def _sns(message: str) -> bytes:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    return sns_body(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": harness_amazon_ses.TOPIC,
            "Subject": "Amazon SES Email Event Notification",
            "Message": message,
            "Timestamp": stamp.replace("+00:00", "Z"),
        }
    )


@pytest.mark.parametrize("message", ["[]", "1", "", "not json"])
def test_signed_sns_notification_whose_ses_event_is_unusable_is_stored_dead(message):
    account = harness_amazon_ses.make_account()
    body = _sns(message)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(SNS_CERT_URL, body=sns_certificate_pem())
        response = post(account, body, HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification")
    assert_stored_unusable(account, response, body)


@pytest.mark.parametrize("case", sorted(JUNK))
def test_sns_body_that_is_no_signed_message_stays_unstored(case):
    account = harness_amazon_ses.make_account()
    assert_refused_unstored(post(account, JUNK[case]), 400)


# --- Inventory ----------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(NO_TYPE))
def test_signed_unusable_stock_service_webhook_is_stored_dead(case):
    account = hs.make_account()
    body = NO_TYPE[case]
    assert_stored_unusable(account, post(account, body, **_standard(body)), body)


def test_stock_service_webhook_signed_with_another_secret_stays_unstored():
    account = hs.make_account()
    headers = _standard(b"[]", secret="whsec_b3RoZXJzZWNyZXQ=")
    assert_refused_unstored(post(account, b"[]", **headers), 401)


GECKO = {**JUNK, "no_event": b'{"object_id": 1}'}


@pytest.mark.parametrize("case", sorted(GECKO))
def test_signed_unusable_tradegecko_webhook_is_stored_dead(case):
    account = tg.make_account()
    body = GECKO[case]
    response = post(
        account,
        body,
        HTTP_X_GECKO_DELIVERY=uuid.uuid4().hex,
        HTTP_X_GECKO_SIGNATURE=tg.signed(body),
    )
    assert_stored_unusable(account, response, body)


def test_tradegecko_webhook_with_a_wrong_signature_stays_unstored():
    account = tg.make_account()
    response = post(
        account,
        b"[]",
        HTTP_X_GECKO_DELIVERY="d1",
        HTTP_X_GECKO_SIGNATURE=tg.signed(b"[]", secret="guess"),
    )
    assert_refused_unstored(response, 401)
