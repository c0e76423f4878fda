"""Set-up shared by the carrier state tests (test_ship40_*, test_ship41_*): a
quote or a label at UPS and a pickup at FedEx over their fixtures, each
returning the answer and what was sent to the carrier."""

import json
from datetime import timedelta

import responses
from django.utils import timezone

from shipping import codec
from shipping.api_examples import PICKUP_REQUEST
from shipping.models import RateQuote
from shipping.providers.base import Address
from tests.shipping.contract import harness_fedex, harness_ups
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import PICKUPS, SHIPMENTS, post_as_writer

FEDEX_PICKUP = f"{harness_fedex.BASE}/pickup/v1/pickups"


def ups_quote(body: dict, post=post_as_writer) -> tuple[object, dict | None]:
    """POST ``body`` for quotes (by ``post``) at a new UPS account: (the
    answer, the RateRequest's Shipment sent to UPS; None if refused before)."""
    harness_ups.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        reply = post(body)
        sent = [
            json.loads(c.request.body)["RateRequest"]["Shipment"]
            for c in mocked.calls
            if c.request.url == harness_ups.RATES_URL
        ]
    return reply, sent[0] if sent else None


def ups_label(
    to_address: dict, key: str, customs=shared.CUSTOMS
) -> tuple[object, dict | None]:
    """Buy a label under Idempotency-Key ``key`` at a UPS quote stored for
    ``to_address``: (the answer, the ShipmentRequest's Shipment sent to UPS;
    None if refused before)."""
    recipient = Address(
        **{**to_address, "street_lines": tuple(to_address["street_lines"])}
    )
    request = shared.rate_request(to_address=recipient, customs=customs)
    quote = RateQuote.objects.create(
        fingerprint="4" * 64,
        account=harness_ups.make_account(),
        carrier="ups",
        service_code="07",
        service_name="UPS Worldwide Express",
        amount=5400,
        currency="USD",
        request=codec.request_to_json(request),
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.label(mocked, None)
        reply = post_as_writer(
            {"quote_id": quote.public_id}, SHIPMENTS, HTTP_IDEMPOTENCY_KEY=key
        )
        sent = [
            json.loads(c.request.body)["ShipmentRequest"]["Shipment"]
            for c in mocked.calls
            if c.request.url == harness_ups.SHIP_URL
        ]
    return reply, sent[0] if sent else None


def fedex_pickup(address: dict, key: str) -> tuple[object, list[dict]]:
    """POST a pickup at ``address`` under Idempotency-Key ``key`` at a new
    FedEx account: (the answer, each request body sent to FedEx's pickup)."""
    account = harness_fedex.make_account()
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            harness_fedex.TOKEN_URL, json=harness_fedex.load("oauth_token.json")
        )
        mocked.post(FEDEX_PICKUP, json=harness_fedex.load("pickup_response.json"))
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY=key)
        calls = [c for c in mocked.calls if c.request.url == FEDEX_PICKUP]
    return reply, [json.loads(c.request.body) for c in calls]
