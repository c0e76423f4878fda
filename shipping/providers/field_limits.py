"""The longest text each carrier takes in the fields we send it, from its
published spec; ``shipping.providers.validation`` checks them before any
call (issue 17, 9: provider limits are checked at our API, not found out at
the provider, which refuses the label or cuts the text on it and misroutes
the parcel).

A field too long for the carrier is ``InvalidShippingRequest`` with code
``field_too_long``, ``param`` naming it (``to_address.street_lines[0]``) and
the carrier's limit in the message, never the text itself; one shorter than
a published minimum is ``field_too_short`` the same way. Only what an
adapter sends from the storefront's request is limited: our own reference
(the shipment's public id) is not the storefront's to fix.

Where a spec publishes no limit there is none. FedEx's and DHL Express's
numbers are from their published OpenAPI files (the specs kept under
../shared/provider-specs/ for them are example bodies without lengths):
FedEx's Ship API 1.0.0 (Shipment-Resource.json) and Rate API
(RateQuotes-Resource.json) as downloaded from developer.fedex.com (copies in
github.com/ShipStream/fedex-rest-php-sdk, resources/models/.raw/), and DHL's
MyDHL API 2.12.0 (dpdhl-express-api-2.12.0_swagger_0.yaml from
developer.dhl.com; copy in github.com/antibodies-online/dhl-api-rest);
USPS's from its v3 OpenAPI files (USPS_FIELDS). Shippo's OpenAPI
(shippo/public-api.yaml) gives no maxLength for the fields we send, only
its street lines' "35 character limit" in words (SHIPPO_FIELDS).
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from shipping.providers.carrier_common import fitting_state
from shipping.providers.fedex_address import STATE_COUNTRIES as FEDEX_STATE_COUNTRIES
from shipping.providers.fedex_address import fedex_address, fedex_pickup_address
from shipping.providers.shipment_types import Address
from shipping.providers.ups_address import PICKUP_STATE_COUNTRIES as UPS_PICKUP_STATES
from shipping.providers.ups_address import STATE_COUNTRIES as UPS_STATE_COUNTRIES
from shipping.providers.ups_address import (
    ups_address,
    ups_check_address,
    ups_pickup_address,
    ups_rating_address,
)
from shipping.providers.us_states import STATE_COUNTRIES as USPS_STATE_COUNTRIES
from shipping.providers.usps_address import PHONE as USPS_PHONE
from shipping.providers.usps_address import PHONE_FORM as USPS_PHONE_FORM
from shipping.providers.usps_address import usps_address, usps_pickup_address


@dataclass(frozen=True)
class FieldLimits:
    """Characters a carrier takes per field; None: no published limit."""

    name: int | None = None
    # The name's when no company is given and the name goes as it too.
    name_alone: int | None = None
    # Each of its first word and the rest, where they go as fields of their
    # own (USPS firstName, lastName): carrier_common.name_parts.
    name_part: int | None = None
    # The carrier requires a first and a last name (USPS Carrier Pickup's
    # Addressee): a one-word name is refused, never sent twice.
    two_names: bool = False
    company: int | None = None
    street_line: int | None = None  # each line
    street_lines: int | None = None  # how many lines (blank ones are not sent)
    city: int | None = None
    state_code: int | None = None
    # Where the carrier requires a state: none there is ``missing_field``
    # at our API, not the carrier's refusal in its own words.
    state_countries: frozenset[str] = frozenset()
    # Besides the US and its territories (every carrier's), where a state
    # must be a US state code (us_states): any other is ``invalid_state``.
    state_code_countries: frozenset[str] = frozenset()
    # A state (and a postcode) required in every country: the pickup specs
    # of FedEx and Shippo list them as required without a condition.
    state_everywhere: bool = False
    postal_code_everywhere: bool = False
    postal_code: int | None = None
    phone: int | None = None  # the number, its extension not counted
    phone_min: int | None = None  # the fewest (a phone given; none is not short)
    # Its own field where the carrier has one (UPS, FedEx): phones.py.
    phone_extension: int | None = None
    # The form a phone must have as sent (USPS's Phone pattern), and its
    # words for the refusal: one that cannot be made to fit is
    # ``invalid_phone``.
    phone_pattern: re.Pattern[str] | None = None
    phone_form: str = ""
    # Both parties' phones required on a shipment abroad (UPS's Shipper and
    # ShipTo Phone): none is ``missing_field`` naming the phone.
    phone_abroad: bool = False
    # Both parties' phones required on every shipment, at home too (FedEx's
    # PartyContact, MyDHL's Contact), a pickup's contact's on every pickup
    # (UPS's, DHL's): none is ``missing_field`` as above.
    phone_always: bool = False
    # The recipient's phone required at home too: a service's own rule
    # (CarrierLimits.service_fields), UPS Next Day Air Early's.
    to_phone: bool = False
    # A contact email required (USPS Carrier Pickup's contact): none is
    # ``missing_field`` naming the email.
    email_required: bool = False
    email: int | None = None
    customs_description: int | None = None  # each item's
    hs_code: int | None = None
    hs_code_min: int | None = None  # the fewest (an HS code given)
    sku: int | None = None
    exporter_reference: int | None = None
    instructions: int | None = None  # a pickup's (pickup_fields only)
    # The address as the adapter sends it (a ZIP+4's hyphen dropped, ...):
    # the limits are checked on that, not on the buyer's text.
    as_sent: Callable[[Address], Address] | None = None


NO_FIELD_LIMITS = FieldLimits()


@dataclass(frozen=True)
class ServiceRules:
    """What a service's label requires beyond its carrier's other services'
    (``CarrierLimits.service_fields``), or its pickup
    (``.pickup_service_fields``): (its name, the fields) by its code,
    or, for a code not named, by how it starts (a Shippo token's carrier,
    "fedex_"), so a token Shippo adds later is still held to its carrier's."""

    codes: Mapping[str, tuple[str, FieldLimits]] = field(default_factory=dict)
    prefixes: Mapping[str, tuple[str, FieldLimits]] = field(default_factory=dict)

    def get(self, code: str) -> tuple[str, FieldLimits] | None:
        if code in self.codes:
            return self.codes[code]
        starts = [start for start in self.prefixes if code.startswith(start)]
        return self.prefixes[max(starts, key=len)] if starts else None


# UPS: provider-specs/ups/Shipping.yaml (ShipmentRequest) and Rating.yaml
# (RateRequest); a request goes to both (quote, then label): the smaller wins,
# but for the state, which a quote is also checked on as Rating takes it
# (UPS_RATING_FIELDS).
UPS_FIELDS = FieldLimits(
    name=35,  # Shipper/ShipTo/ShipFrom AttentionName and Name, both files
    company=35,  # Name (the company when given), both files
    street_line=35,  # Address.AddressLine, both files
    street_lines=3,  # AddressLine: "Up to three occurrences" (Shipping.yaml)
    city=30,  # Address.City, both files
    state_code=5,  # Shipping.yaml ShipTo/Shipper/ShipFrom StateProvinceCode 5
    # ShipTo and ShipFrom "Required for US, Canada, and Vietnam (VN)" (the
    # shipper's address goes as both): ups_address.STATE_COUNTRIES.
    state_countries=UPS_STATE_COUNTRIES,
    postal_code=9,  # Address.PostalCode, both files
    phone=15,  # Phone.Number (Shipping.yaml; rating sends none)
    phone_extension=4,  # Shipper/ShipTo/ShipFrom Phone.Extension maxLength 4
    # Shipper_Phone.Number "A phone number is required if destination is
    # international", ShipTo_Phone.Number "Required for ... when Ship To
    # country or territory is different than the ShipFrom country": Rating
    # sends none, so a quote without them could never become a label.
    phone_abroad=True,
    customs_description=35,  # InternationalForms.Product.Description
    hs_code=15,  # InternationalForms.Product.CommodityCode
    hs_code_min=6,  # CommodityCode minLength 6: "6-to-15-alphanumeric"
    as_sent=ups_address,  # postcode, state and phone as UPS takes them
)

# Shipping.yaml ShipTo_Phone.Number "Required for: UPS Next Day Air® Early
# service, and when Ship To country or territory is different than the
# ShipFrom country": the second half is UPS_FIELDS' phone_abroad, the first
# this service's own (no other service is named so in Shipping.yaml).
UPS_NEXT_DAY_AIR_EARLY = ("UPS Next Day Air Early", FieldLimits(to_phone=True))
UPS_SERVICE_FIELDS = ServiceRules(MappingProxyType({"14": UPS_NEXT_DAY_AIR_EARLY}))

# A quote's state as Rating takes it, checked besides UPS_FIELDS: a quote is
# refused where its label would be, and where Rating would refuse it.
UPS_RATING_FIELDS = FieldLimits(
    state_code=2,  # Rating.yaml Address.StateProvinceCode maxLength 2
    as_sent=ups_rating_address,  # a state not of 2 left out where optional
)


# UPS Pickup.yaml, PickupCreationRequest.PickupAddress (schedule_pickup).
UPS_PICKUP_FIELDS = FieldLimits(
    name=22,  # ContactName
    company=27,  # CompanyName (the contact's name when no company is given)
    street_line=73,  # AddressLine: "only one AddressLine is allowed", 73
    city=50,  # City
    state_code=50,  # StateProvince
    state_countries=UPS_PICKUP_STATES,  # "Required for US, Canada, and Vietnam"
    postal_code=8,  # PostalCode (a US ZIP+4 sent as its ZIP: ups_pickup_address)
    phone=25,  # Phone.Number
    # PickupCreationRequest_PickupAddress requires Phone, PickupAddress_Phone
    # its Number (minLength 1): none is missing_field, never sent empty.
    phone_always=True,
    phone_extension=10,  # PickupAddress_Phone.Extension maxLength 10
    instructions=57,  # PickupCreationRequest.SpecialInstruction
    as_sent=ups_pickup_address,  # one line, a ZIP+4's 5 digits
)

# UPS AddressValidation.yaml, XAVRequest.AddressKeyFormat (validate_address).
UPS_ADDRESS_CHECK_FIELDS = FieldLimits(
    name=40,  # ConsigneeName
    street_line=100,  # AddressLine
    street_lines=3,  # AddressLine "maximum": 3
    city=30,  # PoliticalDivision2
    state_code=30,  # PoliticalDivision1
    postal_code=10,  # PostcodePrimaryLow (a ZIP+4's 5 digits: ups_check_address)
    as_sent=ups_check_address,
)

# FedEx Ship API (ShipperParty/RecipientsParty: PartyAddress_2, PartyContact)
# and Rate API (RateAddress): the smaller wins, as for UPS.
FEDEX_FIELDS = FieldLimits(
    name=70,  # PartyContact.personName "Maximum length is 70"
    company=35,  # PartyContact.companyName "Max length is 35"
    street_line=35,  # PartyAddress_2.streetLines "Max Length is 35"
    street_lines=3,  # Address.streetLines "streetlines more than 3 will be ignored"
    city=35,  # PartyAddress_2.city maxLength 35
    state_code=2,  # Rate API Address.stateOrProvinceCode "Max length is 2"
    # "State code is required for US, CA, PR" (Rate and Ship APIs' Address).
    state_countries=FEDEX_STATE_COUNTRIES,
    postal_code=10,  # PartyAddress_2.postalCode "Maximum length is 10"
    phone=15,  # PartyContact.phoneNumber "maximum of 15" (digits: fedex_address)
    phone_min=10,  # PartyContact.phoneNumber "Minimum length is 10"
    phone_extension=6,  # PartyContact.phoneExtension "Maximum length is 6"
    # ShipperParty and RecipientsParty require contact, a PartyContact with
    # "required": ["phoneNumber"], at home and abroad: the Rate API sends
    # none, so a quote without them could never become a label.
    phone_always=True,
    email=80,  # PartyContact.emailAddress "Maximum length is 80"
    customs_description=450,  # Commodity.description "Maximum allowed 450"
    as_sent=fedex_address,  # state only where required or it fits; phone digits
)

# MyDHL supermodelIoLogisticsExpressAddress (and its shipment and rates
# forms): provinceCode minLength 2, maxLength 35, in no "required" list.
DHL_PROVINCE_SHORTEST, DHL_PROVINCE_LONGEST = 2, 35


def dhl_express_address(address: Address) -> Address:
    """``address`` as DHL Express gets it: provinceCode is optional
    everywhere, so one shorter than its minLength 2 (Vienna's "9") or
    longer than 35 is left out, as UPS and FedEx leave out an optional
    state they do not take, rather than refused at DHL or here."""
    state = fitting_state(
        address.country_code,
        address.state_code,
        (),
        DHL_PROVINCE_LONGEST,
        DHL_PROVINCE_SHORTEST,
    )
    return replace(address, state_code=state)


# DHL Express MyDHL API 2.12.0: supermodelIoLogisticsExpressAddress (and its
# CreateShipmentRequest and RatesRequest forms, the same numbers),
# supermodelIoLogisticsExpressContact, exportDeclaration.lineItems.
DHL_EXPRESS_FIELDS = FieldLimits(
    name=255,  # contactInformation.fullName maxLength 255
    name_alone=100,  # also sent as companyName (maxLength 100) when no company
    company=100,  # companyName maxLength 100
    street_line=45,  # addressLine1..3 maxLength 45
    street_lines=3,  # addressLine1..3 only (additionalProperties: false)
    city=45,  # cityName maxLength 45
    state_code=35,  # provinceCode maxLength 35 (minLength 2), optional
    postal_code=12,  # postalCode maxLength 12
    phone=70,  # phone maxLength 70
    # supermodelIoLogisticsExpressContact requires phone (minLength 1) for
    # the shipper's and the receiver's contactInformation; rates send none.
    phone_always=True,
    email=70,  # email maxLength 70
    customs_description=512,  # lineItems.description maxLength 512
    hs_code=18,  # lineItems.commodityCodes.value maxLength 18
    hs_code_min=2,  # lineItems.commodityCodes.value minLength 2
    as_sent=dhl_express_address,  # a state it does not take left out
)
# A DHL pickup's address and contact are the same schemas as a shipment's
# (its contact's phone required too: phone_always).
DHL_EXPRESS_PICKUP_FIELDS = replace(
    DHL_EXPRESS_FIELDS,
    instructions=80,  # PickupRequest specialInstructions.value maxLength 80
)

# FedEx Pickup API (Pickup-Resource.json, Full_Schema_Create_Pickup).
FEDEX_PICKUP_FIELDS = FieldLimits(
    name=70,  # Contact_CreatePickup.personName "Maximum Length is 70"
    company=35,  # Contact_CreatePickup.companyName "Maximum length is 35"
    # pickupLocation is PickupLocationParty: Party_createPickup's contact,
    # Contact_CreatePickup.phoneNumber "Maximum legth is 13" (sic).
    phone=13,
    phone_min=8,  # Contact_CreatePickup.phoneNumber "Minimum Length is 8"
    phone_extension=6,  # Contact_CreatePickup.phoneExtension "Maximum length is 6"
    # No phone_always: PickupLocationParty requires a contact, but neither
    # PickupLocationParty_contact nor Contact_CreatePickup lists a required
    # field (UPS's and DHL's pickups require the phone; FedEx publishes none).
    # Party_createPickup's Address.stateOrProvinceCode "Maximum length is 2"
    state_code=2,
    # PickupLocationParty_address lists stateOrProvinceCode (and postalCode)
    # in "required" with no condition, but the Address it refines says a
    # postcode is "required for postal-aware countries" and the Ship API a
    # state "required for US, CA, PR": the list is looser than the rules, and
    # reading it literally would refuse every pickup in London or Sydney. So
    # the label rule: required in US, CA, PR; elsewhere one over 2 left out.
    state_countries=FEDEX_STATE_COUNTRIES,
    instructions=60,  # remarks "Maximum length is 60 characters"
    as_sent=fedex_pickup_address,  # the phone's digits; the state as a label's
)

# USPS's v3 OpenAPI files (karrio vendors them at karrioapi/karrio
# modules/connectors/usps/vendor/domestic-labels.yaml 3.9.13, carrier-
# pickup.yaml, addresses.yaml; usps_international/vendor/international-
# labels.yaml). Labels (DomesticLabelAddress, InternationalLabelAddress):
USPS_FIELDS = FieldLimits(
    name_part=50,  # Addressee firstName, lastName maxLength 50 (one word: firm)
    company=50,  # Addressee firm maxLength 50
    street_line=50,  # Address streetAddress, secondaryAddress maxLength 50
    street_lines=2,  # those two fields only: a third line would be dropped
    city=28,  # city maxLength 28 (domestic and international)
    # InternationalAddress province maxLength 40; a US one is sent as its
    # code (us_states): State "two-character state code", one of a list.
    state_code=40,
    # DomesticLabelAddress requires state (fromAddress, a US toAddress).
    state_countries=USPS_STATE_COUNTRIES,
    # FM, MH, PW too (domestic at USPS): a state there is its code.
    state_code_countries=USPS_STATE_COUNTRIES,
    postal_code=11,  # InternationalAddress postalCode maxLength 11 (a ZIP+4 10)
    # Phone pattern "^\\+?[1-9][0-9]{7,14}$|^[0-9]{6,15}$" (no punctuation).
    phone_pattern=USPS_PHONE,
    phone_form=USPS_PHONE_FORM,
    email=50,  # Email maxLength 50
    customs_description=30,  # ShippingContents itemDescription maxLength 30
    hs_code=14,  # HSTariffNumber maxLength 14
    hs_code_min=6,  # HSTariffNumber minLength 6
    as_sent=usps_address,  # the phone's digits
)
# Carrier Pickup's PickupAddress: Addressee requires firstName and lastName
# (no firm instead); DomesticAddress as a label's, its state optional;
# "required: contact" with "minItems: 1" of NotificationMethod, an
# EmailNotification or an SMSNotification whose cellNumber "is for future
# Use": the email is the contact, and none is a 400 naming it.
USPS_PICKUP_FIELDS = FieldLimits(
    name_part=50,
    two_names=True,
    company=50,
    street_line=50,
    street_lines=2,
    city=28,
    state_code_countries=USPS_STATE_COUNTRIES,  # where given (optional here)
    email=50,  # EmailNotification email maxLength 50
    email_required=True,
    as_sent=usps_pickup_address,  # no phone
)
# The address check (GET /address): state "required: true" for every
# address, maxLength 2, one of USPS's codes; streetAddress and city without
# a length, and we send no firm.
USPS_ADDRESS_CHECK_FIELDS = FieldLimits(
    street_lines=2,
    state_code=2,
    state_countries=USPS_STATE_COUNTRIES,
    state_code_countries=USPS_STATE_COUNTRIES,
)

# Shippo public-api.yaml AddressBase (shipments, rates, pickups' location):
# street1 and street2 "35 character limit"; street3 "Only accepted for USPS
# international shipments, UPS domestic and UPS international", so two lines
# are sent and a third would be dropped; state "required for purchase ...
# for shipments from/to the US, AU, and CA"; zip "**required for
# purchase**" in every country ("When creating a Quote Addresses, sending a
# ZIP is optional", but a label is bought from its quote's request, so a
# quote without one could never be bought: refused as its label is).
SHIPPO_FIELDS = FieldLimits(
    street_line=35,
    street_lines=2,
    state_countries=frozenset({"US", "AU", "CA"}),
    postal_code_everywhere=True,
)


def _phones_of(fields: FieldLimits) -> FieldLimits:
    # A carrier's rules for which phones its label needs, and no others.
    return FieldLimits(
        phone_always=fields.phone_always, phone_abroad=fields.phone_abroad
    )


# Shippo books a label at the carrier its servicelevel token names
# (public-api.yaml ServiceLevelFedExEnum fedex_*, ServiceLevelDHLExpressEnum
# dhl_express_*, ServiceLevelUPSEnum ups_*): its AddressBase phone is
# optional, that carrier's phones are not. FedEx and DHL Express need both
# on every label, UPS both abroad, and the recipient's for service 14: Next
# Day Air Early ("ups_next_day_air_early_am | Next Day Air® Early"), named
# Express Early in Canada ("ups_express_early | Express® Early": 14 within
# Canada, 54 from Canada to the US, abroad anyway; karrio's UPS units
# ups_express_early_ca, ups_express_early_ca_us). Not Express Plus, which
# has its own token (ups_express_plus) and UPS's rule alone.
_SHIPPO_UPS_EARLY = replace(_phones_of(UPS_FIELDS), to_phone=True)
SHIPPO_SERVICE_FIELDS = ServiceRules(
    codes=MappingProxyType(
        {
            "ups_next_day_air_early_am": ("UPS Next Day Air Early", _SHIPPO_UPS_EARLY),
            "ups_express_early": ("UPS Express Early", _SHIPPO_UPS_EARLY),
        }
    ),
    prefixes=MappingProxyType(
        {
            "fedex_": ("FedEx", _phones_of(FEDEX_FIELDS)),
            "dhl_express_": ("DHL Express", _phones_of(DHL_EXPRESS_FIELDS)),
            "ups_": ("UPS", _phones_of(UPS_FIELDS)),
        }
    ),
)
# A pickup's location is AddressPickupCompleteCreateRequest: its
# AddressCompleteCreateRequest requires name, street1, city, state, zip and
# country, in every country.
SHIPPO_PICKUP_FIELDS = replace(SHIPPO_FIELDS, state_everywhere=True)
# A Shippo pickup is booked at the carrier its labels were bought from, named
# by their tokens (as SHIPPO_SERVICE_FIELDS): Location.address's phone is
# optional, that carrier's pickup API's phone rule is not, as our adapters
# apply it. UPS's (Pickup.yaml PickupAddress Phone.Number) and DHL Express's
# (the pickup contact's phone) require one; FedEx's (no required contact
# field) and USPS's (no phone at all) none: read from their rules all the same.
SHIPPO_PICKUP_SERVICE_FIELDS = ServiceRules(
    prefixes=MappingProxyType(
        {
            "ups_": ("UPS", _phones_of(UPS_PICKUP_FIELDS)),
            "dhl_express_": ("DHL Express", _phones_of(DHL_EXPRESS_PICKUP_FIELDS)),
            "fedex_": ("FedEx", _phones_of(FEDEX_PICKUP_FIELDS)),
            "usps_": ("USPS", _phones_of(USPS_PICKUP_FIELDS)),
        }
    ),
)
# The address check (POST /addresses) sends the same AddressBase, so the
# same street limits; a state and a zip are "required for purchase" only,
# not for it.
SHIPPO_ADDRESS_CHECK_FIELDS = replace(
    SHIPPO_FIELDS, state_countries=frozenset(), postal_code_everywhere=False
)
