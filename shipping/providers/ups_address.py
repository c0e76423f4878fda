"""An address as UPS's Rating and Shipping APIs take it: the UPS adapter
sends this form and its field limits (``field_limits.UPS_FIELDS``, a quote's
state ``UPS_RATING_FIELDS``) are checked on it, so a limit never refuses text
UPS would take once rewritten. Each rule cites provider-specs/ups/
Shipping.yaml or Rating.yaml."""

import dataclasses
import re

from shipping.providers.carrier_common import ZIP_PLUS_4, fitting_state
from shipping.providers.phones import phone_digits, split_phone
from shipping.providers.shipment_types import Address
from shipping.providers.us_states import iso_subdivision

# Shipping.yaml ShipTo (and ShipFrom) StateProvinceCode: "Required for US,
# Canada, and Vietnam (VN)"; elsewhere optional. Ireland is not among them:
# "If the country or territory is Ireland, [it] must contain the county"
# says what an Irish one holds, and no short code for a county is
# documented (UPS, Shippo): refusing one longer than 5 ("Kilkenny", "Dublin")
# would shut most of Ireland out of UPS on a guess, so it is left out as any
# optional state is and UPS's own answer decides. Pickup.yaml's
# PickupAddress.StateProvince names the same three.
STATE_COUNTRIES = frozenset({"US", "CA", "VN"})
PICKUP_STATE_COUNTRIES = STATE_COUNTRIES
# Shipping.yaml ShipTo.StateProvinceCode maxLength 5 ("VN-44"; an Irish
# county); Rating.yaml Address.StateProvinceCode minLength and maxLength 2.
SHIPPING_STATE_LENGTH = 5
RATING_STATE_LENGTH = 2
# Rating's 2 holds a US state or Canadian province code ("For US or Canada,
# the value must be a valid US state or Canadian province code", Shipping.yaml);
# a Vietnamese province or Irish county does not fit and Rating does not
# require one (Rating.yaml ShipTo.Address): a quote leaves it out.
RATING_STATE_COUNTRIES = frozenset({"US", "CA"})
# A ZIP+4 (carrier_common.ZIP_PLUS_4): Shipping.yaml ShipTo.PostalCode, US
# or Puerto Rico "5 or 9 digits"; "The character - may be used to separate
# the first five digits and the last four digits" (ShipFrom), yet Rating
# takes 9 characters: the 9 digits.
# CA: "6 alphanumeric characters whose format is A#A#A# where A is an
# uppercase letter": the space between its halves is not sent.
_CANADIAN = re.compile(r"([A-Za-z]\d[A-Za-z])\s?(\d[A-Za-z]\d)")


def ups_state(address: Address) -> str:
    """The state as UPS takes it. Every carrier is sent an ISO 3166-2 code
    as its short code (us_states.state_sent), but UPS's StateProvinceCode
    (Shipping.yaml, Pickup.yaml): "For Vietnam (VN), the value must be a
    valid province code (for example, VN-44)": a Vietnamese code ISO lists
    goes with its prefix ("44" and "VN-44" alike)."""
    state = address.state_code
    if address.country_code == "VN" and iso_subdivision(f"VN-{state}"):
        return f"VN-{state.strip().upper()}"
    return state


def ups_address(address: Address) -> Address:
    """``address`` with its postcode, state and phone as UPS's Shipping API
    gets them (a label)."""
    return dataclasses.replace(
        address,
        postal_code=_postcode(address.country_code, address.postal_code),
        state_code=fitting_state(
            address.country_code,
            ups_state(address),
            STATE_COUNTRIES,
            SHIPPING_STATE_LENGTH,
        ),
        # Phone.Number: "Valid values are 0 - 9" (Shipping.yaml Shipper); an
        # extension goes as Phone.Extension, not run on into the number.
        phone=phone_digits(address.phone),
    )


def ups_rating_address(address: Address) -> Address:
    """``address`` as UPS's Rating API gets it (a quote): as a label's, its
    state left out where not Rating's 2 characters and not a US or Canadian
    code (those must fit: a longer one is refused)."""
    address = ups_address(address)
    # Rating's minLength is 2 too: an optional "9" (Vienna) is left out.
    length = RATING_STATE_LENGTH
    country, state = address.country_code, address.state_code
    state = fitting_state(country, state, RATING_STATE_COUNTRIES, length, length)
    return dataclasses.replace(address, state_code=state)


def ups_pickup_address(address: Address) -> Address:
    """``address`` as UPS's Pickup API gets it (Pickup.yaml,
    PickupCreationRequest.PickupAddress): one AddressLine ("only one
    AddressLine is allowed"), the lines joined by a space; PostalCode takes 8
    (its examples a 5-digit ZIP, '07401'), so a US or PR ZIP+4 goes as its
    5-digit ZIP, the part that routes it. The phone's extension goes as
    Phone.Extension (maxLength 10), not in Number."""
    postcode = address.postal_code
    match = ZIP_PLUS_4.fullmatch(postcode)
    if address.country_code in ("US", "PR") and match:
        postcode = match.group(1)
    return dataclasses.replace(
        address,
        street_lines=(" ".join(address.street_lines),),
        postal_code=postcode,
        state_code=ups_state(address),
        phone=split_phone(address.phone)[0],
    )


def ups_check_postcode(address: Address) -> tuple[str, str]:
    """The postcode as UPS's address check takes it (AddressValidation.yaml
    AddressKeyFormat): PostcodePrimaryLow ("Postal Code", maxLength 10) and
    PostcodeExtendedLow ("4 digit Postal Code extension. For US use only"):
    a US or PR ZIP+4's two parts, any other postcode whole."""
    match = ZIP_PLUS_4.fullmatch(address.postal_code)
    if address.country_code in ("US", "PR") and match:
        return match.group(1), match.group(2)
    return address.postal_code, ""


def ups_check_address(address: Address) -> Address:
    """``address`` as the address check's limits count it: the postcode its
    PostcodePrimaryLow."""
    return dataclasses.replace(address, postal_code=ups_check_postcode(address)[0])


def _postcode(country: str, postcode: str) -> str:
    if country in ("US", "PR"):
        match = ZIP_PLUS_4.fullmatch(postcode)
        return "".join(match.groups()) if match else postcode
    if country == "CA":
        match = _CANADIAN.fullmatch(postcode)
        return "".join(match.groups()).upper() if match else postcode
    return postcode
