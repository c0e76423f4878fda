"""An address as FedEx's Rate and Ship APIs take it: the FedEx adapter sends
this form for quotes and labels, and ``field_limits.FEDEX_FIELDS`` are
checked on it, so a limit never refuses text FedEx would take once
rewritten. Each rule cites FedEx's published OpenAPI files (copies in
github.com/ShipStream/fedex-rest-php-sdk, resources/models/.raw/)."""

import dataclasses

from shipping.providers.carrier_common import fitting_state
from shipping.providers.phones import phone_digits
from shipping.providers.shipment_types import Address

# RateQuotes-Resource.json Address.stateOrProvinceCode: "State code is
# required for US, CA, PR and not required for other countries. Conditional.
# Max length is 2."
STATE_COUNTRIES = frozenset({"US", "CA", "PR"})
STATE_LENGTH = 2


def fedex_address(address: Address) -> Address:
    """``address`` with its state and phone as FedEx gets them."""
    return dataclasses.replace(
        address,
        state_code=_state(address.country_code, address.state_code),
        # Shipment-Resource.json PartyContact.phoneNumber: "For US and CA, a
        # phone number must have exactly 10 digits, plus an optional leading
        # country code of '1' or '+1'": the digits, as UPS takes them; an
        # extension goes as phoneExtension ("Maximum length is 6").
        phone=phone_digits(address.phone),
    )


def fedex_pickup_address(address: Address) -> Address:
    """``address`` as FedEx's Pickup API gets it: the phone's digits
    (Contact_CreatePickup.phoneNumber, example "7194446666"), its extension
    apart (phoneExtension); the state as a label's (Pickup-Resource.json
    Address.stateOrProvinceCode "Maximum length is 2"); the rest as given."""
    return dataclasses.replace(
        address,
        state_code=_state(address.country_code, address.state_code),
        phone=phone_digits(address.phone),
    )


def _state(country: str, state: str) -> str:
    # Optional elsewhere: one longer than FedEx takes (an Australian "NSW")
    # is left out, not a reason to leave FedEx out.
    return fitting_state(country, state, STATE_COUNTRIES, STATE_LENGTH)
