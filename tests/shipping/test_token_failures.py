"""A carrier's OAuth token call failing: the operation that needed the token
never went out, so nothing it does is left in doubt."""

from datetime import timedelta

import pytest
import requests as rq
import responses
from django.utils import timezone

from shipping import codec, services
from shipping.models import RateQuote, ShipmentStatus
from tests.shipping.contract import requests
from tests.shipping.helpers import fedex_account

pytestmark = pytest.mark.django_db

FEDEX = "https://apis-sandbox.fedex.com"


def _fedex_quote() -> RateQuote:
    account = fedex_account()
    return RateQuote.objects.create(
        fingerprint="f" * 64,
        account=account,
        carrier="fedex",
        service_code="FEDEX_GROUND",
        service_name="Ground",
        amount=840,
        currency="USD",
        request=codec.request_to_json(requests.rate_request()),
        expires_at=timezone.now() + timedelta(minutes=10),
    )


@pytest.mark.parametrize(
    "fault", ["read_timeout", "500", "malformed", "infinite_lifetime"]
)
def test_a_lost_token_answer_leaves_no_label_in_doubt(fault):
    """Timeout, 5xx or a broken body from the token endpoint (an expires_in
    of 1e999, which no int holds, too): the label
    request never went out, so the shipment is failed (buy again), never
    'unknown' (for FedEx, which cannot look labels up, that is for ever)."""
    quote = _fedex_quote()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        token = f"{FEDEX}/oauth/token"
        if fault == "read_timeout":
            rsps.post(token, body=rq.exceptions.ReadTimeout("lost"))
        elif fault == "500":
            rsps.post(token, status=500, json={"errors": []})
        elif fault == "infinite_lifetime":
            body = b'{"access_token": "tok-1", "expires_in": 1e999}'
            rsps.post(token, body=body, content_type="application/json")
        else:
            rsps.post(token, body=b'{"access_token": ')
        ship = rsps.post(f"{FEDEX}/ship/v1/shipments", json={})
        shipment = services.shipment_buy(
            quote_id=quote.public_id, idempotency_key="buy-1"
        )
    assert ship.call_count == 0
    assert shipment.status == ShipmentStatus.FAILED, shipment.failure_code
