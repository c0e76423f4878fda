"""A US state at an address in Micronesia (FM), the Marshall Islands (MH) or
Palau (PW) is refused at every carrier, not only at USPS (ship48).

USPS serves the three as domestic, its state then the place's own code
(ship46 refused IL there). To UPS, FedEx, DHL Express and Shippo they are
countries of their own, where a state is optional and is the country's own
(UPS Shipping.yaml StateProvinceCode: "For US or Canada, the value must be a
valid US state", and no US state elsewhere; FedEx's stateOrProvinceCode is
"required for US, CA, PR"; MyDHL's provinceCode and Shippo's AddressBase
``state`` are the address's own province). "IL" there names a place in
another country: it went out as the address's state, to a parcel whose
country or state is wrong, while "US-IL" there was already a 400 at every
carrier. Now the bare code, the name and the lower case are refused the
same way: a 400 ``invalid_state`` naming ``to_address.state_code``, before
any call, for a quote and for a label. The place's own states ("Pohnpei")
and its own code still go (test_r_ship43_states_every_carrier).
"""

from dataclasses import replace

import pytest
import responses

from integrations.models import ProviderCall
from shipping.models import Shipment
from tests.shipping.contract import (
    harness_dhl_express,
    harness_fedex,
    harness_shippo,
    harness_ups,
)
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    CUSTOMS,
    RATES,
    SHIPMENTS,
    post_as_writer,
    refused,
    stored_quote,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
CARRIERS = (harness_ups, harness_fedex, harness_dhl_express, harness_shippo)
CASES = [
    ("FM", "IL"),
    ("FM", "Illinois"),
    ("FM", "il"),
    ("MH", "NY"),
    ("PW", "CA"),
    ("PW", "PR"),  # a territory's code names that territory, not Palau
    ("PW", "FM"),  # another freely associated state
]
# A Micronesian recipient as the contract's, with its phone.
KOLONIA = replace(
    shared.RECIPIENT,
    city="Kolonia",
    postal_code="96941",
    country_code="FM",
)


def _recipient(country: str, state: str) -> dict:
    return {
        "name": KOLONIA.name,
        "street_lines": list(KOLONIA.street_lines),
        "city": KOLONIA.city,
        "postal_code": KOLONIA.postal_code,
        "country_code": country,
        "state_code": state,
        "phone": KOLONIA.phone,
    }


@pytest.mark.parametrize("harness", CARRIERS, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize(("country", "state"), CASES)
def test_a_quote_to_a_us_state_there_is_a_400_before_the_carrier(
    harness, country, state
):
    from shipping.api_examples import RATE_REQUEST

    harness.make_account()
    body = RATE_REQUEST | {
        "to_address": _recipient(country, state),
        "customs": CUSTOMS,
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness.rates(mocked, None)
        reply = post_as_writer(body, RATES)
        assert list(mocked.calls) == []

    error = refused(reply, "to_address.state_code", "invalid_state", country)
    assert state not in error["message"]  # the buyer's text


@pytest.mark.parametrize("harness", CARRIERS, ids=lambda h: h.PROVIDER)
def test_a_label_for_a_quote_kept_with_a_us_state_there_is_a_400(harness):
    account = harness.make_account()
    recipient = replace(KOLONIA, state_code="IL")
    request = shared.rate_request(to_address=recipient, customs=shared.CUSTOMS)
    quote = stored_quote(
        account,
        request,
        carrier=harness.PROVIDER,
        service_code="ANY",
        service_name="Any",
        carrier_rate_id="r1",
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness.label(mocked, None)
        reply = post_as_writer(
            {"quote_id": quote.public_id},
            SHIPMENTS,
            HTTP_IDEMPOTENCY_KEY=f"s48-fas-{harness.PROVIDER}",
        )
        assert list(mocked.calls) == []

    refused(reply, "to_address.state_code", "invalid_state", "FM")
    assert not Shipment.objects.exists()
    assert not ProviderCall.objects.exists()


@pytest.mark.parametrize("harness", CARRIERS, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("state", ["FM", "Pohnpei", ""])
def test_the_places_own_state_or_none_still_quotes(harness, state):
    from integrations import registry
    from tests.shipping.state_cases import state_request

    adapter = registry.get_adapter(harness.make_account())
    adapter.check_shipment(state_request("FM", state, "96941"))  # no refusal
