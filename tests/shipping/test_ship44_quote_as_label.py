"""A quote is refused where its label would be (ship44).

A label is bought from its quote's stored request, unchanged: a quote the
carrier's label rules refuse can never be bought. Shippo's zip ("**required
for purchase**", AddressBase) was checked on labels only, so a Hong Kong
quote was offered and its purchase always refused; USPS's international
label takes customs values in US dollars only and a country it can name,
and its quotes were offered for EUR customs. Both are now refused for the
quote (a rate shop leaves that carrier out with our reason), as UPS's
quotes already were for its label's state (the Shippo adapter's own quote:
test_ship43_shippo_label_zip).
"""

from dataclasses import replace

import pytest
import responses

from integrations.models import ProviderCall
from shipping.providers.usps import USPSAdapter
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import harness_dhl_express, harness_shippo, harness_usps
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import abroad, post_as_writer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
HONG_KONG = {
    "name": "Chan Tai Man",
    "street_lines": ["1 Queen's Road Central"],
    "city": "Hong Kong",
    "state_code": "",
    "postal_code": "",
    "country_code": "HK",
    "phone": "+852 5550 1234",  # DHL Express's label requires it (ship45)
}
EUR_CUSTOMS = replace(
    shared.CUSTOMS, items=(replace(shared.CUSTOMS.items[0], currency="EUR"),)
)


def _refused_before_any_call(adapter, request) -> InvalidShippingRequest:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.rates(request)
        assert list(mocked.calls) == []
    return refused.value


def test_a_rate_shop_leaves_shippo_out_of_a_hong_kong_quote_with_its_reason():
    harness_shippo.make_account()
    harness_dhl_express.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_shippo.rates(mocked, None)
        harness_dhl_express.rates(mocked, None)
        reply = post_as_writer(abroad(HONG_KONG))
        shippo_calls = [c for c in mocked.calls if harness_shippo.BASE in c.request.url]

    assert reply.status_code == 200, reply.json()
    shop = reply.json()
    assert {q["carrier"] for q in shop["quotes"]} == {"DHL Express"}
    [failure] = shop["failures"]
    assert failure["provider"] == "shippo"
    assert (failure["param"], failure["code"]) == (
        "to_address.postal_code",
        "missing_field",
    )
    assert shippo_calls == []


def _usps_abroad(**changes):
    values = {"to_address": shared.ABROAD, "customs": shared.CUSTOMS, **changes}
    return shared.rate_request(**values)


def test_a_usps_international_quote_with_customs_not_in_dollars_is_refused():
    request = _usps_abroad(customs=EUR_CUSTOMS)

    refused = _refused_before_any_call(
        USPSAdapter(harness_usps.make_account()), request
    )

    assert (refused.param, refused.code) == (
        "customs.items[0].currency",
        "currency_not_supported",
    )
    assert not ProviderCall.objects.exists()


def test_a_usps_international_quote_to_a_code_naming_no_country_is_refused():
    request = _usps_abroad(to_address=replace(shared.ABROAD, country_code="ZZ"))

    refused = _refused_before_any_call(
        USPSAdapter(harness_usps.make_account()), request
    )

    assert (refused.param, refused.code) == (
        "to_address.country_code",
        "invalid_country",
    )


def test_a_usps_quote_from_abroad_is_still_no_quote_not_a_refusal():
    # USPS mails from the US only: nothing quoted, nothing to refuse.
    request = shared.rate_request(
        from_address=shared.ABROAD,
        to_address=replace(shared.ABROAD, country_code="ZZ"),
        customs=EUR_CUSTOMS,
    )

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        assert USPSAdapter(harness_usps.make_account()).rates(request) == []
