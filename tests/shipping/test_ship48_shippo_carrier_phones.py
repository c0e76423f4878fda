"""A label Shippo books at FedEx, DHL Express or UPS needs the phones that
carrier needs, as our own adapters for them ask (ship48).

Shippo's AddressBase ``phone`` is optional, but Shippo books the label at the
carrier its servicelevel token names (public-api.yaml ServiceLevelFedExEnum
``fedex_*``, ServiceLevelDHLExpressEnum ``dhl_express_*``,
ServiceLevelUPSEnum ``ups_*``), and that carrier's own rules stand:

- FedEx's Ship API sends the shipper and each recipient with a contact whose
  ``required`` is ``["phoneNumber"]``; MyDHL's Contact requires ``phone``:
  both phones on every label (``FieldLimits.phone_always``).
- UPS's Shipping.yaml Shipper_Phone "A phone number is required if
  destination is international", ShipTo_Phone "Required for ... when Ship To
  country or territory is different than the ShipFrom country": both phones
  abroad (``phone_abroad``); and the recipient's at home too for Next Day
  Air Early, UPS service 14, which UPS names Express Early in Canada
  (``ups_express_early``, "Express® Early"; from Canada to the US it is
  UPS's 54, abroad, where both phones are needed anyway).

Only ``ups_next_day_air_early_am`` had a rule: a Shippo label for any other
of them without the phone went out and came back refused. Now it is a 400
``missing_field`` naming the phone before any call, and a quote leaves those
services out (listed in ``failures`` with their token), the others quoted.
"""

import copy
from dataclasses import replace

import pytest
import responses

from integrations.models import ProviderCall
from shipping.models import Shipment
from tests.shipping.contract import harness_shippo
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import RATES, SHIPMENTS, post_as_writer, stored_quote

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
NO_PHONE_TO = replace(shared.RECIPIENT, phone="")
NO_PHONE_FROM = replace(shared.SHIPPER, phone="")
ABROAD_NO_PHONE = replace(shared.ABROAD, phone="")
TORONTO = replace(
    shared.RECIPIENT,
    city="Toronto",
    state_code="ON",
    postal_code="M5V 2T6",
    country_code="CA",
)
OTTAWA = replace(TORONTO, city="Ottawa", postal_code="K1A 0B1", phone="")


def _buy(token: str, **addresses):
    # A Shippo quote for ``token`` kept for the request, bought by the API.
    request = shared.rate_request(**addresses)
    if request.from_address.country_code != request.to_address.country_code:
        request = replace(request, customs=shared.CUSTOMS)
    quote = stored_quote(
        harness_shippo.make_account(),
        request,
        carrier=token.split("_")[0],
        service_code=token,
        service_name=token,
        carrier_rate_id=harness_shippo.RATE_ID,
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_shippo.label(mocked, None)
        key = f"s48-{token}"
        reply = post_as_writer(
            {"quote_id": quote.public_id}, SHIPMENTS, HTTP_IDEMPOTENCY_KEY=key
        )
        calls = list(mocked.calls)
    return reply, calls


@pytest.mark.parametrize(
    ("token", "addresses", "param", "carrier"),
    [
        ("fedex_ground", {"to_address": NO_PHONE_TO}, "to_address.phone", "FedEx"),
        ("fedex_2_day", {"from_address": NO_PHONE_FROM}, "from_address.phone", "FedEx"),
        (
            "dhl_express_domestic_express_doc",
            {"to_address": NO_PHONE_TO},
            "to_address.phone",
            "DHL Express",
        ),
        (
            "dhl_express_worldwide_nondoc",
            {"to_address": ABROAD_NO_PHONE},
            "to_address.phone",
            "DHL Express",
        ),
        ("ups_ground", {"to_address": ABROAD_NO_PHONE}, "to_address.phone", "UPS"),
        (
            "ups_saver",
            {"from_address": NO_PHONE_FROM, "to_address": shared.ABROAD},
            "from_address.phone",
            "UPS",
        ),
        (
            "ups_express_early",
            {"from_address": TORONTO, "to_address": OTTAWA},
            "to_address.phone",
            "UPS Express Early",
        ),
    ],
)
def test_a_label_without_the_phone_its_carrier_needs_is_a_400_before_shippo(
    token, addresses, param, carrier
):
    reply, calls = _buy(token, **addresses)

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (param, "missing_field")
    assert f"Shippo for {carrier}" in error["message"]
    assert calls == []
    assert not Shipment.objects.exists()
    assert not ProviderCall.objects.exists()


@pytest.mark.parametrize(
    ("token", "addresses"),
    [
        ("ups_ground", {"to_address": NO_PHONE_TO}),  # at home: UPS needs none
        ("usps_priority", {"to_address": NO_PHONE_TO, "from_address": NO_PHONE_FROM}),
        ("dhl_ecommerce_marketing_parcel_expedited", {"to_address": NO_PHONE_TO}),
    ],
)
def test_a_label_whose_carrier_needs_no_phone_there_is_bought(token, addresses):
    reply, calls = _buy(token, **addresses)

    assert reply.status_code == 201, reply.json()
    assert calls


def _rates_with(*tokens: str) -> dict:
    # Shippo's rates answer (a Rate of public-api.yaml each) with one rate
    # per token besides its own, shaped as its UPS Ground one.
    answer = harness_shippo.load("shipment_rates.json")
    for index, token in enumerate(tokens):
        rate = copy.deepcopy(answer["rates"][2])
        rate["object_id"] = f"{index:032x}"
        rate["servicelevel"] |= {"name": token, "token": token}
        answer["rates"].append(rate)
    return answer


def test_a_shop_without_the_recipients_phone_leaves_those_services_out():
    from shipping.api_examples import RATE_REQUEST

    extra = ("fedex_ground", "dhl_express_domestic_express_doc", "ups_express_early")
    harness_shippo.make_account()
    body = RATE_REQUEST | {"to_address": RATE_REQUEST["to_address"] | {"phone": ""}}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{harness_shippo.BASE}/shipments", json=_rates_with(*extra))
        reply = post_as_writer(body, RATES)

    assert reply.status_code == 200, reply.json()
    shop = reply.json()
    quoted = {quote["service_code"] for quote in shop["quotes"]}
    assert quoted == {"usps_priority", "usps_ground_advantage", "ups_ground"}
    failures = {f["service_code"]: f for f in shop["failures"]}
    assert set(failures) == set(extra)
    for failure in failures.values():
        assert (failure["code"], failure["param"]) == (
            "missing_field",
            "to_address.phone",
        )
