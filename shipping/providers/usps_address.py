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

# Labels' Phone (domestic and international alike): pattern
# "^\+?[1-9][0-9]{7,14}$|^[0-9]{6,15}$", "The phone number, including the
# country extension and area code or the local national format, with no
# punctuation." No extension field: a phone with one cannot be sent whole.
PHONE = re.compile(r"\+?[1-9][0-9]{7,14}|[0-9]{6,15}")
PHONE_FORM = "6 to 15 digits, or a + and 8 to 15 digits not starting with 0"


def usps_address(address: Address) -> Address:
    """``address`` as a USPS label, quote or address check gets it: the
    phone without its punctuation. (A US state's name is its code at every
    carrier: us_states.us_state_sent.)"""
    return dataclasses.replace(address, phone=usps_phone(address.phone))


def usps_pickup_address(address: Address) -> Address:
    """``address`` as Carrier Pickup gets it: no phone is sent (PickupAddress
    has none, and its contact's SMSNotification.cellNumber is "for future
    Use"; the contact is the email, ``email_required``). Its state is a
    label's, a code (its DomesticAddress takes a code or a name, its pattern
    only the names in lower case): us_states.us_state_sent."""
    return dataclasses.replace(address, phone="")


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
