"""UPS Next Day Air Early needs the recipient's phone at home too (ship45),
bought from UPS or through Shippo (ship46).

Shipping.yaml ShipTo_Phone.Number: "Consignee's phone Number. Required for:
UPS Next Day Air® Early service, and when Ship To country or territory is
different than the ShipFrom country or territory" (no other service is
named so in Shipping.yaml). r-ship44 applied the second half only: a
domestic label for service 14 without the recipient's phone went to UPS
and came back refused. Now it is a 400 ``missing_field`` naming
``to_address.phone`` at our API before any call, and an all-services quote
leaves that one service out, listed among the shop's failures with the
reason (``service_code`` "14"), instead of refusing the whole quote.

Shippo reaches the same UPS service as its servicelevel token
``ups_next_day_air_early_am`` (public-api.yaml ServiceLevelUPSEnum), and its
AddressBase ``phone`` is optional, so a Shippo label for it without the
recipient's phone went out and came back refused (ship46). The rule is the
same through Shippo: each test below taking ``early`` runs at both
(test_ship46_shippo_ups_early's cases, folded here); the quote for Early
alone and the shop's failure list are UPS's only.
"""

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
from tests.shipping.early_cases import EARLY, NO_PHONE, Early, ups_shop_answered
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
at_each_carrier = pytest.mark.parametrize(
    "early", list(EARLY.values()), ids=list(EARLY)
)


@at_each_carrier
def test_an_early_label_at_home_without_the_recipients_phone_is_refused(
    early: Early,
):
    adapter = early.adapter(early.harness.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        label = early.harness.label(mocked, None)
        label = replace(label, service_code=early.code, to_address=NO_PHONE)
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.create_label(label)
        assert list(mocked.calls) == []

    assert (refused.value.param, refused.value.code) == (
        "to_address.phone",
        "missing_field",
    )
    assert "UPS Next Day Air Early" in refused.value.message
    assert not ProviderCall.objects.exists()


@at_each_carrier
def test_an_early_label_with_the_phone_and_other_services_without_pass(
    early: Early,
):
    adapter = early.adapter(early.harness.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        label = early.harness.label(mocked, None)
    adapter.check_shipment(replace(label, service_code=early.code))
    for code in early.others:
        adapter.check_shipment(replace(label, service_code=code, to_address=NO_PHONE))


@at_each_carrier
def test_an_all_services_quote_leaves_early_out_and_keeps_the_others(early: Early):
    with_phone = early.quoted_codes(shared.rate_request())
    without = early.quoted_codes(shared.rate_request(to_address=NO_PHONE))

    assert early.code in with_phone
    assert early.code not in without
    assert without == with_phone - {early.code}


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
        ups_shop_answered(mocked)
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


@at_each_carrier
def test_buying_an_early_quote_without_the_phone_is_a_400_before_any_shipment(
    early: Early,
):
    account = early.harness.make_account()
    request = shared.rate_request(to_address=NO_PHONE)
    quote = stored_quote(
        account, request, carrier="UPS", service_code=early.code, service_name="Early"
    )
    key = f"early-{account.provider}"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        reply = post_as_writer(
            {"quote_id": quote.public_id}, SHIPMENTS, HTTP_IDEMPOTENCY_KEY=key
        )
        assert list(mocked.calls) == []

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("to_address.phone", "missing_field")
    assert not Shipment.objects.exists()
