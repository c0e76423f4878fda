"""ship46's territory rule where USPS serves FM, MH and PW as domestic
(docs/shipping.md: "at USPS in FM, MH and PW likewise"), which no ship46
test covered: at USPS a US state's code or name, or another such place's
code, is a 400 ``invalid_state`` there, as IL is at a Puerto Rico address.
Before ship46 USPS took "IL" as a Micronesian address's state (r-ship46).
"""

import pytest

from integrations import registry
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import harness_usps
from tests.shipping.state_cases import state_request

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


@pytest.mark.parametrize(
    ("country", "state"), [("FM", "IL"), ("FM", "Illinois"), ("MH", "FM")]
)
def test_usps_refuses_another_places_state_at_a_freely_associated_state(country, state):
    adapter = registry.get_adapter(harness_usps.make_account())
    with pytest.raises(InvalidShippingRequest) as refused:
        adapter.check_shipment(state_request(country, state, "96941"))

    error = refused.value
    assert (error.param, error.code) == ("to_address.state_code", "invalid_state")
    assert f"must name {country} itself" in error.message
    assert state not in error.message  # the buyer's text


@pytest.mark.parametrize(("country", "state"), [("FM", "FM"), ("PW", "pw")])
def test_usps_takes_the_places_own_code_there(country, state):
    adapter = registry.get_adapter(harness_usps.make_account())
    adapter.check_shipment(state_request(country, state, "96941"))
