"""An address as USPS's v3 APIs take it: the USPS adapter sends this form
and its field limits (``field_limits.USPS_FIELDS``, ``USPS_PICKUP_FIELDS``,
``USPS_ADDRESS_CHECK_FIELDS``) are checked on it, so what USPS would take
once rewritten is sent so, and what it would refuse is a 400 at our API
naming the field. Each rule cites USPS's OpenAPI files as karrio vendors them
(modules/connectors/usps/vendor/domestic-labels.yaml 3.9.13, carrier-
pickup.yaml 3.1.8, addresses.yaml; usps_international/vendor/international-
labels.yaml)."""

import dataclasses
import re

from shipping.providers.phones import phone_digits, phone_readable, split_phone
from shipping.providers.shipment_types import Address
from shipping.providers.us_states import USPS_STATE_CODES, us_state_code

# USPS's state codes name the territories with an ISO code of their own
# (PR, GU, VI ...) too: an address there has a US state code.
STATE_COUNTRIES = frozenset({"US", "PR", "GU", "VI", "AS", "MP", "FM", "MH", "PW"})
STATE_CODES = USPS_STATE_CODES
# Labels' Phone (domestic and international alike): pattern
# "^\+?[1-9][0-9]{7,14}$|^[0-9]{6,15}$", "The phone number, including the
# country extension and area code or the local national format, with no
# punctuation." No extension field: a phone with one cannot be sent whole.
PHONE = re.compile(r"\+?[1-9][0-9]{7,14}|[0-9]{6,15}")


def usps_address(address: Address) -> Address:
    """``address`` as a USPS label, quote or address check gets it: a US
    state's name as its code (labels' and addresses.yaml's state is "the
    two-character state code of the address"), the phone without its
    punctuation."""
    return dataclasses.replace(
        address,
        state_code=_state(address.country_code, address.state_code),
        phone=usps_phone(address.phone),
    )


def usps_pickup_address(address: Address) -> Address:
    """``address`` as Carrier Pickup gets it: the state as a label's (its
    DomesticAddress takes a code or a name, but its pattern only the names in
    lower case: the code is what every USPS API takes). No phone is sent:
    PickupAddress has none, and its contact's SMSNotification.cellNumber is
    "for future Use"; the contact is the email (``email_required``)."""
    return dataclasses.replace(
        address,
        state_code=_state(address.country_code, address.state_code),
        phone="",
    )


def usps_phone(phone: str) -> str:
    """The phone as labels' Phone pattern wants it: its digits, a leading
    "+" kept ("(555) 010-2000" -> "5550102000", "+1 555 010 2000" ->
    "+15550102000"). One with an extension or other text is left as given,
    so the pattern check refuses it (its digits would be a wrong number)."""
    number, extension = split_phone(phone)
    if not phone.strip() or extension or not phone_readable(phone):
        return phone
    plus = "+" if number.strip().startswith("+") else ""
    return plus + phone_digits(phone)


def _state(country: str, state: str) -> str:
    # A name USPS has no code for stays as given: refused as invalid_state.
    if country not in STATE_COUNTRIES or not state.strip():
        return state
    return us_state_code(state) or state
