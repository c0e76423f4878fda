"""A Shippo pickup is booked at the carrier its labels were bought from, and
that carrier's own pickup API's phone rule stands (ship49).

Shippo's Location.address (AddressPickupCompleteCreateRequest) has an
optional phone, but the pickup goes to the carrier of the carrier account
the labels were bought under, named by their servicelevel tokens
(public-api.yaml ServiceLevelUPSEnum ``ups_*``, ServiceLevelDHLExpressEnum
``dhl_express_*``). UPS's Pickup.yaml PickupCreationRequest_PickupAddress
requires Phone.Number (minLength 1) and MyDHL's pickup contact requires
``phone``: our own UPS and DHL Express pickups refuse a pickup without one
(UPS_PICKUP_FIELDS, DHL_EXPRESS_PICKUP_FIELDS phone_always), a Shippo one
at those carriers went out without it. FedEx's Pickup API lists no required
contact field and USPS's Carrier Pickup has no phone: those need none.
"""

import json
from dataclasses import replace
from datetime import time, timedelta
from decimal import Decimal

import pytest
import responses

from integrations.clock import database_now
from shipping.api_examples import ADDRESS_FROM
from shipping.models import Pickup, RateQuote, Shipment, ShipmentStatus
from shipping.providers.base import PickupRequest
from tests.shipping.contract import harness_shippo
from tests.shipping.helpers import PICKUPS, pickup_day, post_as_writer, refused

pytestmark = pytest.mark.django_db

PICKUPS_URL = f"{harness_shippo.BASE}/pickups/"
CARRIER_ACCOUNT = "078870331023437cb917f5187429b093"


def _bought(account, token: str, n: int = 1) -> Shipment:
    """A label bought through Shippo for servicelevel ``token``."""
    quote = RateQuote.objects.create(
        fingerprint=f"{n}" * 64,
        account=account,
        carrier=token.split("_")[0].upper(),
        service_code=token,
        amount=1590,
        currency="USD",
        extra={"carrier_account": CARRIER_ACCOUNT},
        request={},
        expires_at=database_now() + timedelta(minutes=10),
    )
    return Shipment.objects.create(
        account=account,
        quote=quote,
        from_address={},
        to_address={},
        parcels=[],
        carrier=quote.carrier,
        service_code=token,
        amount=1590,
        currency="USD",
        idempotency_key=f"s49-bought-{n}",
        status=ShipmentStatus.PURCHASED,
        tracking_number=f"1Z999AA1012345678{n}",
        carrier_shipment_id=f"{n}" * 32,
        carrier_account=CARRIER_ACCOUNT,
    )


def _pickup(tokens: list[str], address: dict, key: str):
    """POST a pickup at a new Shippo account of labels bought for
    ``tokens``: (the answer, each body sent to Shippo's pickups)."""
    account = harness_shippo.make_account()
    shipments = [_bought(account, t, n) for n, t in enumerate(tokens, start=1)]
    body = {
        "account": account.slug,
        "address": address,
        "pickup_date": pickup_day(1).isoformat(),
        "ready_time": "09:00",
        "close_time": "17:00",
        "parcel_count": len(shipments),
        "total_weight": "2.000",
        "shipments": [s.public_id for s in shipments],
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            PICKUPS_URL, status=201, json=harness_shippo.load("pickup_confirmed.json")
        )
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY=key)
        calls = [c for c in mocked.calls if c.request.url == PICKUPS_URL]
    return reply, calls


NO_PHONE = {k: v for k, v in ADDRESS_FROM.items() if k != "phone"}


@pytest.mark.parametrize(
    ("tokens", "carrier"),
    [
        (["ups_ground"], "UPS"),
        (["ups_next_day_air_early_am", "ups_ground"], "UPS"),
        (["dhl_express_worldwide"], "DHL Express"),
        (["dhl_express_domestic_express_doc"], "DHL Express"),
    ],
)
def test_a_pickup_at_a_carrier_needing_a_phone_is_refused_before_shippo(
    tokens, carrier
):
    reply, calls = _pickup(tokens, NO_PHONE, f"s49-no-phone-{tokens[0]}")

    error = refused(reply, "address.phone", "missing_field", f"Shippo for {carrier}")
    assert "required" in error["message"]
    assert calls == []
    assert not Pickup.objects.exists()


def test_a_blank_phone_is_none():
    reply, calls = _pickup(["ups_ground"], NO_PHONE | {"phone": "  "}, "s49-blank")

    refused(reply, "address.phone", "missing_field", "Shippo for UPS")
    assert calls == []


@pytest.mark.parametrize("token", ["ups_ground", "dhl_express_worldwide"])
def test_with_the_phone_the_pickup_is_booked_with_it(token):
    reply, [call] = _pickup([token], ADDRESS_FROM, f"s49-phone-{token}")

    assert reply.status_code == 201, reply.json()
    assert reply.json()["confirmation_number"] == "WTC310058750"
    sent = json.loads(call.request.body)
    assert sent["location"]["address"]["phone"] == ADDRESS_FROM["phone"]


@pytest.mark.parametrize("token", ["fedex_ground", "usps_priority"])
def test_a_carrier_whose_pickup_needs_no_phone_is_booked_without_one(token):
    # FedEx's Pickup API lists no required contact field; USPS's Carrier
    # Pickup has no phone (our own adapters' rules for them).
    reply, [call] = _pickup([token], NO_PHONE, f"s49-none-{token}")

    assert reply.status_code == 201, reply.json()
    sent = json.loads(call.request.body)
    assert "phone" not in sent["location"]["address"]


def test_the_adapter_itself_refuses_it_before_any_call():
    # Whoever calls the adapter (not only the pickup service) gets the rule.
    from shipping.providers.shippo import ShippoAdapter
    from shipping.providers.validation import InvalidShippingRequest
    from tests.shipping.contract import requests as shared

    request = PickupRequest(
        address=replace(shared.SHIPPER, phone=""),
        pickup_date=pickup_day(1),
        ready_time=time(9, 0),
        close_time=time(17, 0),
        parcel_count=1,
        total_weight=Decimal("2"),
        idempotency_key="s49-adapter",
        carrier_shipment_ids=("1" * 32,),
        carrier_account=CARRIER_ACCOUNT,
        service_codes=("dhl_express_worldwide",),
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        with pytest.raises(InvalidShippingRequest) as caught:
            ShippoAdapter(harness_shippo.make_account()).schedule_pickup(request)
        assert not mocked.calls

    assert (caught.value.param, caught.value.code) == ("address.phone", "missing_field")
    assert "Shippo for DHL Express" in caught.value.message
