"""Phones FedEx and DHL Express require on every label (ship45).

UPS requires both phones on a shipment abroad only (r-ship44,
``FieldLimits.phone_abroad``). FedEx's Ship API (Shipment-Resource.json)
sends the shipper and each recipient as ShipperParty and RecipientsParty,
both requiring ``contact``, a PartyContact whose ``required`` is
``["phoneNumber"]``, at home and abroad alike; MyDHL API 2.12.0's
supermodelIoLogisticsExpressContact requires ``phone`` (minLength 1) for
the shipper's and the receiver's contactInformation. Their rate APIs send
no phone, so a quote without one was offered and its label could only come
back as the carrier's refusal (both were sent a contact without the phone:
FedEx's and DHL's bodies leave empty fields out). Now such a quote and label
are a 400 ``missing_field`` naming the phone before any call, and a rate
shop leaves those carriers out with that reason.
"""

from dataclasses import replace
from types import ModuleType

import pytest
import responses

from integrations import registry
from integrations.models import ProviderCall
from shipping.api_examples import ADDRESS_FROM, ADDRESS_TO, RATE_REQUEST
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import harness_dhl_express, harness_fedex, harness_ups
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import post_as_writer

# The API's example without its phones.
NO_PHONES = RATE_REQUEST | {
    "from_address": {k: v for k, v in ADDRESS_FROM.items() if k != "phone"},
    "to_address": {k: v for k, v in ADDRESS_TO.items() if k != "phone"},
}
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
BOTH = (harness_fedex, harness_dhl_express)


def _refused(harness: ModuleType, request, *, label: bool = False):
    adapter = registry.get_adapter(harness.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.create_label(request) if label else adapter.rates(request)
        assert list(mocked.calls) == []
    assert not ProviderCall.objects.exists()
    return refused.value


@pytest.mark.parametrize("harness", BOTH, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("party", ["from_address", "to_address"])
def test_a_quote_at_home_without_a_phone_is_refused(harness, party):
    request = shared.rate_request()
    blank = replace(getattr(request, party), phone=" ")
    refused = _refused(harness, replace(request, **{party: blank}))

    assert (refused.param, refused.code) == (f"{party}.phone", "missing_field")
    assert ("FedEx" if harness is harness_fedex else "DHL") in refused.message


@pytest.mark.parametrize("harness", BOTH, ids=lambda h: h.PROVIDER)
def test_a_quote_abroad_without_the_recipients_phone_is_refused(harness):
    request = shared.international_rate_request()
    request = replace(request, to_address=replace(request.to_address, phone=""))

    refused = _refused(harness, request)

    assert refused.param == "to_address.phone"


@pytest.mark.parametrize("harness", BOTH, ids=lambda h: h.PROVIDER)
def test_a_label_without_a_phone_is_refused_before_any_call(harness):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        label = harness.label(mocked, None)
    label = replace(label, from_address=replace(label.from_address, phone=""))

    refused = _refused(harness, label, label=True)

    assert (refused.param, refused.code) == ("from_address.phone", "missing_field")


def test_a_shop_without_phones_leaves_fedex_and_dhl_out_and_ups_quotes_at_home():

    harness_ups.make_account()
    harness_fedex.make_account()
    harness_dhl_express.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        reply = post_as_writer(NO_PHONES)
        urls = {call.request.url for call in mocked.calls}

    assert reply.status_code == 200, reply.json()
    shop = reply.json()
    assert {q["carrier"] for q in shop["quotes"]} == {"UPS"}
    failures = {f["provider"]: f for f in shop["failures"]}
    assert set(failures) == {"fedex", "dhl_express"}
    for failure in failures.values():
        assert (failure["code"], failure["param"]) == (
            "missing_field",
            "from_address.phone",
        )
    assert harness_fedex.RATES_URL not in urls
    assert not any("dhl.com" in url for url in urls)
