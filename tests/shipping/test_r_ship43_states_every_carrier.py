"""A US state written as its name, at every carrier (review of ship43).

Our API takes a state of up to 40 characters (ship43), room for
"California". USPS sent it as its code; every other carrier got the name:
UPS and FedEx refused it as ``field_too_long`` (Shipping.yaml
StateProvinceCode "For US or Canada, the value must be a valid US state or
Canadian province code"; FedEx stateOrProvinceCode "Max length is 2"), and
Shippo and DHL Express were sent it as written (Shippo's AddressBase state:
"Most carriers only accept two or three character state abbreviations").
Now a US or territory state's name is sent as its code to every carrier
(quotes, labels, pickups, address checks), and one that names no state
there is a 400 ``invalid_state`` for all of them, before any call: those
cases are in test_ship46_us_state_forms' table, with ship44's ISO codes.
"""

from dataclasses import replace

import pytest
import responses

from integrations import registry
from integrations.models import ProviderCall
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import harness_usps
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    usps_bought_from_shipper,
    weekday_after_tomorrow,
)
from tests.shipping.state_cases import (
    EVERY,
    fedex_pickup,
    state_request,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def test_a_fedex_pickup_state_that_names_none_is_a_400():
    from shipping.api_examples import ADDRESS_FROM

    reply, calls = fedex_pickup(ADDRESS_FROM | {"state_code": "Ontario"}, "r43-on")

    assert reply.status_code == 400, reply.json()
    assert reply.json()["error"]["code"] == "invalid_state"
    assert calls == []


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
def test_a_state_elsewhere_is_no_invalid_state(harness):
    # Only the US and its territories: "Ontario" is a Canadian province (a
    # carrier's length may still refuse it: UPS's Rating takes 2).
    adapter = registry.get_adapter(harness.make_account())
    request = state_request("CA", "Ontario", "K1A0B1")
    try:
        adapter.check_shipment(request, quote=False)
    except InvalidShippingRequest as error:
        assert error.code == "field_too_long"


def test_an_invalid_phone_is_refused_in_the_carriers_own_form():
    # The words come from the carrier's limits, not USPS's numbers fixed in
    # the shared check.
    import re

    from shipping.providers.field_limits import FieldLimits
    from shipping.providers.validation import check_address_fields

    fields = FieldLimits(phone_pattern=re.compile(r"\d{10}"), phone_form="10 digits")
    address = replace(shared.RECIPIENT, phone="555 0100")
    with pytest.raises(InvalidShippingRequest) as refused:
        check_address_fields(address, "to_address", fields, "Acme")

    assert refused.value.code == "invalid_phone"
    assert "Acme takes a phone as 10 digits" in refused.value.message
    assert "6 to 15" not in refused.value.message
    assert "0100" not in refused.value.message  # the buyer's phone


def test_an_admin_usps_pickup_for_a_sender_without_an_email_is_a_form_error(
    admin_client,
):
    # Booked from the shipment list, the sender is the stored one: no email
    # is USPS's refusal (its pickup contact) on the form, never a 500.
    from shipping.models import Pickup

    shipment = usps_bought_from_shipper()  # no email
    listed = admin_client.post(
        "/admin/shipping/shipment/",
        {"action": "schedule_pickup", "_selected_action": [shipment.pk]},
    )
    day = weekday_after_tomorrow()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        page = admin_client.post(
            listed.url,
            {
                "pickup_date": day.isoformat(),
                "ready_time": "09:00",
                "close_time": "17:00",
                "instructions": "",
                "key": "r43admin",
            },
        )
        assert len(mocked.calls) == 0

    assert page.status_code == 200
    content = page.content.decode()
    assert "errornote" in content and "address.email is required by USPS" in content
    assert not Pickup.objects.exists()
    assert not ProviderCall.objects.exists()


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
def test_a_state_of_micronesia_is_refused_at_usps_only(harness):
    # FM is domestic at USPS (its state the code FM); a country of its own,
    # with states of its own, to every other carrier.
    adapter = registry.get_adapter(harness.make_account())
    request = state_request("FM", "Pohnpei", "96941")
    if harness is harness_usps:
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.check_shipment(request)
        assert refused.value.code == "invalid_state"
    else:
        adapter.check_shipment(request)
