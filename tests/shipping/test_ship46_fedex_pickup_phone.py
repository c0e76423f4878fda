"""Does a FedEx pickup need the contact's phone? (ship46: no.)

FedEx's Pickup API 1.0.0 (Pickup-Resource.json, as downloaded from
developer.fedex.com; copies in github.com/ShipStream/fedex-rest-php-sdk
resources/models/.raw/pickup-request/v1/ and karrio's vendored
pickup-api.json): PickupLocationParty requires ``address`` and ``contact``,
but neither PickupLocationParty_contact nor Contact_CreatePickup has a
``required`` list; phoneNumber is described "Minimum Length is 8 and
Maximum legth is 13", a bound on a phone given. Unlike UPS's Pickup.yaml
(PickupAddress requires Phone) and MyDHL (Contact requires phone), FedEx
publishes no requirement, so the UPS and DHL rule is not applied: a pickup
without a phone is sent without ``phoneNumber`` (never as ""), a phone
given is still held to 8 to 13 digits. A guard: this passed before ship46.
The same schema has no emailAddress in the contact, which was sent (a
shipment's PartyContact has one): now left out.
"""

import pytest

from shipping.api_examples import ADDRESS_FROM
from tests.shipping.helpers import refused
from tests.shipping.state_cases import fedex_pickup

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def test_a_fedex_pickup_without_a_phone_is_booked_without_phone_number():
    reply, [body] = fedex_pickup(ADDRESS_FROM | {"phone": ""}, "s46-fx-no-phone")

    assert reply.status_code == 201, reply.json()
    contact = body["originDetail"]["pickupLocation"]["contact"]
    assert "phoneNumber" not in contact
    assert contact["personName"] == ADDRESS_FROM["name"]


def test_a_fedex_pickup_phone_given_is_still_held_to_its_fewest_digits():
    reply, calls = fedex_pickup(ADDRESS_FROM | {"phone": "555 0100"}, "s46-fx-short")

    refused(reply, "address.phone", "field_too_short", "FedEx")
    assert calls == []


def test_a_fedex_pickup_contact_carries_only_the_fields_its_schema_lists():
    # Contact_CreatePickup: companyName, personName, phoneNumber,
    # phoneExtension; no emailAddress (a shipment's PartyContact has one).
    address = ADDRESS_FROM | {"email": "dock@example.com", "company": "Switchyard"}
    reply, [body] = fedex_pickup(address, "s46-fx-email")

    assert reply.status_code == 201, reply.json()
    contact = body["originDetail"]["pickupLocation"]["contact"]
    assert set(contact) <= {
        "companyName",
        "personName",
        "phoneNumber",
        "phoneExtension",
    }
    assert contact["companyName"] == "Switchyard"
