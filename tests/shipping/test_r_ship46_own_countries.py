"""ISO 3166-2 codes for places ISO 3166-1 lists as countries of their own,
missing from ship46's OWN_COUNTRY_CODES (r-ship46).

ISO 3166-2:NL lists Bonaire, Saba and Sint Eustatius as NL-BQ1, NL-BQ2 and
NL-BQ3 (special municipalities), which ISO 3166-1 lists together as BQ
("Bonaire, Sint Eustatius and Saba"), as it lists NL-AW as AW. At a Dutch
address NL-BQ1 went to every carrier as a Dutch province "BQ1"; at a BQ
address it was refused only as another country's prefix. ISO 3166-2:US
lists US-UM, ISO 3166-1's UM, refused at a UM address the same way. Like
CN-HK (ship46): a 400 ``invalid_state`` naming the place and its code.
"""

import pytest

from integrations import registry
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.state_cases import EVERY, state_request

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
CASES = [
    ("NL", "NL-BQ1", "BQ"),
    ("NL", "nl-bq2", "BQ"),
    ("BQ", "NL-BQ3", "BQ"),
    ("UM", "US-UM", "UM"),
]


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize(("country", "state", "own"), CASES)
def test_a_code_for_a_place_iso_lists_as_a_country_says_so_at_every_carrier(
    harness, country, state, own
):
    adapter = registry.get_adapter(harness.make_account())
    with pytest.raises(InvalidShippingRequest) as refused:
        adapter.check_shipment(state_request(country, state, "1234"))

    error = refused.value
    assert (error.param, error.code) == ("to_address.state_code", "invalid_state")
    assert "ISO 3166-1 lists as a country of its own" in error.message
    assert f"country_code {own}" in error.message
    assert state not in error.message  # the buyer's text
