"""UPS Next Day Air Early bought through Shippo needs the recipient's phone
too (ship46).

UPS's Shipping.yaml ShipTo_Phone.Number: "Required for: UPS Next Day Air®
Early service, and when Ship To country or territory is different than the
ShipFrom country or territory". ship45 applied the first half to UPS's own
service 14 only; Shippo reaches the same UPS service as its servicelevel
token ``ups_next_day_air_early_am`` (public-api.yaml ServiceLevelUPSEnum:
"ups_next_day_air_early_am | Next Day Air® Early"), and its AddressBase
``phone`` is optional, so a Shippo label for it without the recipient's
phone went out and came back refused. Now the rule is the same through
Shippo: a label is a 400 ``missing_field`` naming ``to_address.phone``
before any call, and an all-services quote leaves that one service out.
"""

import copy
from dataclasses import replace

import pytest
import responses

from integrations.models import ProviderCall
from shipping.models import Shipment
from shipping.providers.shippo import ShippoAdapter
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import harness_shippo
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import SHIPMENTS, post_as_writer, stored_quote

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
EARLY = "ups_next_day_air_early_am"
NO_PHONE = replace(shared.RECIPIENT, phone="")


def _rates_with_early() -> dict:
    # Shippo's rates answer with a UPS Next Day Air Early rate besides the
    # others, shaped as its UPS Ground one (a Rate of public-api.yaml).
    answer = harness_shippo.load("shipment_rates.json")
    early = copy.deepcopy(answer["rates"][2])
    early["object_id"] = "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
    early["servicelevel"] |= {
        "name": "Next Day Air® Early",
        "token": EARLY,
        "extended_token": EARLY,
    }
    answer["rates"].append(early)
    return answer


def _quote(request):
    adapter = ShippoAdapter(harness_shippo.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{harness_shippo.BASE}/shipments", json=_rates_with_early())
        return adapter.rates(request)


def test_an_early_label_without_the_recipients_phone_is_refused_before_shippo():
    adapter = ShippoAdapter(harness_shippo.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        label = harness_shippo.label(mocked, None)
        label = replace(label, service_code=EARLY, to_address=NO_PHONE)
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.create_label(label)
        assert list(mocked.calls) == []

    assert (refused.value.param, refused.value.code) == (
        "to_address.phone",
        "missing_field",
    )
    assert "UPS Next Day Air Early" in refused.value.message
    assert not ProviderCall.objects.exists()


def test_an_early_label_with_the_phone_and_other_tokens_without_pass():
    adapter = ShippoAdapter(harness_shippo.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        label = harness_shippo.label(mocked, None)
    adapter.check_shipment(replace(label, service_code=EARLY))
    for token in ("ups_ground", "ups_next_day_air", "usps_priority"):
        adapter.check_shipment(replace(label, service_code=token, to_address=NO_PHONE))


def test_an_all_services_quote_leaves_early_out_and_keeps_the_others():
    with_phone = {rate.service_code for rate in _quote(shared.rate_request())}
    without = {
        rate.service_code for rate in _quote(shared.rate_request(to_address=NO_PHONE))
    }

    assert EARLY in with_phone
    assert without == with_phone - {EARLY}


def test_buying_an_early_shippo_quote_without_the_phone_is_a_400():
    account = harness_shippo.make_account()
    request = shared.rate_request(to_address=NO_PHONE)
    quote = stored_quote(
        account, request, carrier="UPS", service_code=EARLY, service_name="Early"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        reply = post_as_writer(
            {"quote_id": quote.public_id}, SHIPMENTS, HTTP_IDEMPOTENCY_KEY="s46-early"
        )
        assert list(mocked.calls) == []

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("to_address.phone", "missing_field")
    assert not Shipment.objects.exists()
