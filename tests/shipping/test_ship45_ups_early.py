"""UPS Next Day Air Early needs the recipient's phone at home too (ship45).

Shipping.yaml ShipTo_Phone.Number: "Consignee's phone Number. Required for:
UPS Next Day Air® Early service, and when Ship To country or territory is
different than the ShipFrom country or territory" (no other service is
named so in Shipping.yaml). r-ship44 applied the second half only: a
domestic label for service 14 without the recipient's phone went to UPS
and came back refused. Now it is a 400 ``missing_field`` naming
``to_address.phone`` at our API before any call, and an all-services quote
leaves that one service out, listed among the shop's failures with the
reason (``service_code`` "14"), instead of refusing the whole quote.
"""

import copy
from dataclasses import replace

import pytest
import responses

from integrations.models import ProviderCall
from shipping.api_examples import ADDRESS_FROM, ADDRESS_TO, RATE_REQUEST
from shipping.models import Shipment
from shipping.providers.ups import UPSAdapter
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import harness_ups
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import SHIPMENTS, post_as_writer, stored_quote

# The API's example without its phones.
NO_PHONES = RATE_REQUEST | {
    "from_address": {k: v for k, v in ADDRESS_FROM.items() if k != "phone"},
    "to_address": {k: v for k, v in ADDRESS_TO.items() if k != "phone"},
}
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
NO_PHONE = replace(shared.RECIPIENT, phone="")


def _shop_with_early() -> dict:
    # UPS's Shop answer with a Next Day Air Early rate besides the others.
    answer = harness_ups.load("rate_shop.json")
    rated = answer["RateResponse"]["RatedShipment"]
    early = copy.deepcopy(rated[0])
    early["Service"]["Code"] = "14"
    rated.append(early)
    return answer


def _quote(request):
    adapter = UPSAdapter(harness_ups.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        mocked.replace(responses.POST, harness_ups.RATES_URL, json=_shop_with_early())
        return adapter.rates(request)


def test_an_early_label_at_home_without_the_recipients_phone_is_refused():
    adapter = UPSAdapter(harness_ups.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        label = harness_ups.label(mocked, None)
        label = replace(label, service_code="14", to_address=NO_PHONE)
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.create_label(label)
        assert list(mocked.calls) == []

    assert (refused.value.param, refused.value.code) == (
        "to_address.phone",
        "missing_field",
    )
    assert "UPS Next Day Air Early" in refused.value.message
    assert not ProviderCall.objects.exists()


def test_an_early_label_with_the_phone_and_other_services_without_pass():
    adapter = UPSAdapter(harness_ups.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        label = harness_ups.label(mocked, None)
    adapter.check_shipment(replace(label, service_code="14"))
    adapter.check_shipment(replace(label, service_code="01", to_address=NO_PHONE))


def test_an_all_services_quote_leaves_early_out_and_keeps_the_others():
    with_phone = _quote(shared.rate_request())
    without = _quote(shared.rate_request(to_address=NO_PHONE))

    assert "14" in {rate.service_code for rate in with_phone}
    codes = {rate.service_code for rate in without}
    assert "14" not in codes
    assert codes == {rate.service_code for rate in with_phone} - {"14"}


def test_a_quote_for_early_alone_is_refused_before_any_call():
    adapter = UPSAdapter(harness_ups.make_account())
    request = shared.rate_request(to_address=NO_PHONE, service_codes=("14",))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.rates(request)
        assert list(mocked.calls) == []

    assert refused.value.param == "to_address.phone"


def test_a_shop_lists_the_early_service_left_out_with_its_reason():

    harness_ups.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        mocked.replace(responses.POST, harness_ups.RATES_URL, json=_shop_with_early())
        reply = post_as_writer(NO_PHONES)

    assert reply.status_code == 200, reply.json()
    shop = reply.json()
    assert shop["quotes"]
    assert "14" not in {quote["service_code"] for quote in shop["quotes"]}
    [failure] = shop["failures"]
    assert failure["provider"] == "ups"
    assert failure["service_code"] == "14"
    assert (failure["code"], failure["param"]) == ("missing_field", "to_address.phone")
    assert "UPS Next Day Air Early" in failure["message"]


def test_buying_an_early_quote_without_the_phone_is_a_400_before_any_shipment():
    account = harness_ups.make_account()
    request = shared.rate_request(to_address=NO_PHONE)
    quote = stored_quote(
        account, request, carrier="UPS", service_code="14", service_name="Early"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        reply = post_as_writer(
            {"quote_id": quote.public_id}, SHIPMENTS, HTTP_IDEMPOTENCY_KEY="s45-early"
        )
        assert list(mocked.calls) == []

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("to_address.phone", "missing_field")
    assert not Shipment.objects.exists()
