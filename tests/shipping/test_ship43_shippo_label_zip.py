"""Shippo labels need a zip (ship43).

provider-specs/shippo/public-api.yaml AddressBase zip: "**required for
purchase**<br> Postal code of an Address. When creating a Quote Addresses,
sending a ZIP is optional". Only pickups (AddressCompleteCreateRequest
requires zip) refused a missing one at our API; a label to a country our
API takes without a postcode (Hong Kong) went to Shippo and was refused
there. Now a label is refused before any call by the pickups' rule
(``FieldLimits.postal_code_everywhere``), and since ship44 its quote too.
"""

from dataclasses import replace

import pytest
import responses

from integrations.models import ProviderCall
from shipping.providers.shippo import ShippoAdapter
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import harness_shippo
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import SHIPMENTS, post_as_writer, stored_quote

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
HONG_KONG = replace(
    shared.ABROAD,
    city="Hong Kong",
    street_lines=("1 Queen's Road Central",),
    state_code="",
    postal_code="",
    country_code="HK",
)


def test_a_shippo_label_without_a_zip_is_a_400_before_any_call():
    account = harness_shippo.make_account()
    request = shared.rate_request(to_address=HONG_KONG, customs=shared.CUSTOMS)
    quote = stored_quote(
        account, request, carrier="shippo", service_code="usps_priority"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_shippo.label(mocked, None)
        reply = post_as_writer(
            {"quote_id": quote.public_id}, SHIPMENTS, HTTP_IDEMPOTENCY_KEY="s43-hk"
        )
        calls = list(mocked.calls)

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (
        "to_address.postal_code",
        "missing_field",
    )
    assert "Shippo" in error["message"]
    assert calls == []
    assert not ProviderCall.objects.exists()


def test_the_shippo_adapter_refuses_a_label_without_a_zip():
    adapter = ShippoAdapter(harness_shippo.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        request = harness_shippo.label(mocked, None)
        request = replace(request, to_address=HONG_KONG, customs=shared.CUSTOMS)
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.create_label(request)
        assert list(mocked.calls) == []

    assert refused.value.param == "to_address.postal_code"


def test_a_shippo_quote_without_a_zip_is_refused_as_its_label_would_be():
    # ship44: this quote was still asked ("When creating a Quote Addresses,
    # sending a ZIP is optional"), but its label, bought from the quote's
    # request, could never be: the quote is refused before any call too.
    account = harness_shippo.make_account()
    request = shared.rate_request(to_address=HONG_KONG, customs=shared.CUSTOMS)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_shippo.rates(mocked, None)
        with pytest.raises(InvalidShippingRequest) as refused:
            ShippoAdapter(account).rates(request)
        assert list(mocked.calls) == []

    assert (refused.value.param, refused.value.code) == (
        "to_address.postal_code",
        "missing_field",
    )
