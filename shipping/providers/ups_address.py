"""An address as UPS's Rating and Shipping APIs take it: the UPS adapter
sends this form and its field limits (``field_limits.UPS_FIELDS``) are
checked on it, so a limit never refuses text UPS would take once rewritten.
Each rule cites provider-specs/ups/Shipping.yaml or Rating.yaml."""

import dataclasses
import re

from shipping.providers.phones import phone_digits, split_phone
from shipping.providers.shipment_types import Address

# Shipping.yaml ShipTo.StateProvinceCode: "Required for US, Canada, and
# Vietnam (VN) ... If the country or territory is Ireland, [it] must contain
# the county"; elsewhere optional.
STATE_COUNTRIES = frozenset({"US", "CA", "VN", "IE"})
# Rating.yaml Address.StateProvinceCode maxLength (the shorter of the two).
RATING_STATE_LENGTH = 2
# Shipping.yaml ShipTo.PostalCode: US or Puerto Rico "5 or 9 digits"; "The
# character - may be used to separate the first five digits and the last
# four digits" (ShipFrom), yet Rating takes 9 characters: the 9 digits.
_ZIP_PLUS_4 = re.compile(r"(\d{5})[-\s]?(\d{4})")
# CA: "6 alphanumeric characters whose format is A#A#A# where A is an
# uppercase letter": the space between its halves is not sent.
_CANADIAN = re.compile(r"([A-Za-z]\d[A-Za-z])\s?(\d[A-Za-z]\d)")


def ups_address(address: Address) -> Address:
    """``address`` with its postcode, state and phone as UPS gets them."""
    return dataclasses.replace(
        address,
        postal_code=_postcode(address.country_code, address.postal_code),
        state_code=_state(address.country_code, address.state_code),
        # Phone.Number: "Valid values are 0 - 9" (Shipping.yaml Shipper); an
        # extension goes as Phone.Extension, not run on into the number.
        phone=phone_digits(address.phone),
    )


def ups_pickup_address(address: Address) -> Address:
    """``address`` as UPS's Pickup API gets it (Pickup.yaml,
    PickupCreationRequest.PickupAddress): one AddressLine ("only one
    AddressLine is allowed"), the lines joined by a space; PostalCode takes 8
    (its examples a 5-digit ZIP, '07401'), so a US or PR ZIP+4 goes as its
    5-digit ZIP, the part that routes it. The phone's extension goes as
    Phone.Extension (maxLength 10), not in Number."""
    postcode = address.postal_code
    match = _ZIP_PLUS_4.fullmatch(postcode)
    if address.country_code in ("US", "PR") and match:
        postcode = match.group(1)
    return dataclasses.replace(
        address,
        street_lines=(" ".join(address.street_lines),),
        postal_code=postcode,
        phone=split_phone(address.phone)[0],
    )


def ups_check_postcode(address: Address) -> tuple[str, str]:
    """The postcode as UPS's address check takes it (AddressValidation.yaml
    AddressKeyFormat): PostcodePrimaryLow ("Postal Code", maxLength 10) and
    PostcodeExtendedLow ("4 digit Postal Code extension. For US use only"):
    a US or PR ZIP+4's two parts, any other postcode whole."""
    match = _ZIP_PLUS_4.fullmatch(address.postal_code)
    if address.country_code in ("US", "PR") and match:
        return match.group(1), match.group(2)
    return address.postal_code, ""


def ups_check_address(address: Address) -> Address:
    """``address`` as the address check's limits count it: the postcode its
    PostcodePrimaryLow."""
    return dataclasses.replace(address, postal_code=ups_check_postcode(address)[0])


def _postcode(country: str, postcode: str) -> str:
    if country in ("US", "PR"):
        match = _ZIP_PLUS_4.fullmatch(postcode)
        return "".join(match.groups()) if match else postcode
    if country == "CA":
        match = _CANADIAN.fullmatch(postcode)
        return "".join(match.groups()).upper() if match else postcode
    return postcode


def _state(country: str, state: str) -> str:
    # Optional outside STATE_COUNTRIES: one longer than Rating takes (an
    # Australian "NSW") is left out, not a reason to leave UPS out.
    if country in STATE_COUNTRIES or len(state) <= RATING_STATE_LENGTH:
        return state
    return ""
