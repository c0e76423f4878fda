"""Checks run on a shipping request before any carrier is called.

A request that no carrier could accept (zero weight, a missing postcode, an
international parcel without customs items) or that exceeds this carrier's
``CarrierLimits`` is refused here as ``InvalidShippingRequest``: nothing is
sent, no ProviderCall is written, and ``param`` names the field
(``parcels[0].weight``) so the API answers a 400 pointing at it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from integrations import money
from integrations.clock import database_now
from shipping.providers.carrier_common import name_parts
from shipping.providers.field_limits import NO_FIELD_LIMITS, FieldLimits, ServiceRules
from shipping.providers.invalid_request import InvalidShippingRequest
from shipping.providers.phones import phone_extension, phone_readable
from shipping.providers.state_checks import check_state
from shipping.providers.us_states import state_sent
from shipping.units import DimensionUnit, WeightUnit

if TYPE_CHECKING:
    from shipping.providers.base import Address, Customs, Parcel, PickupRequest

# Countries whose addresses have no postcode (carriers accept them without).
# More than a truck's worth is a typo (and would be sent as that many pieces).
MAX_PICKUP_PARCELS = 999
# How far ahead carriers book: FedEx Ground pickups up to two weeks, the
# others days; labels up to 10 days (FedEx, DHL Express; UPS 7). A day back
# in UTC is still today west of it (we hold no zone for an address).
MAX_PICKUP_DAYS_AHEAD = 14
MAX_SHIP_DAYS_AHEAD = 10
NO_POSTCODE_COUNTRIES = frozenset(
    {"AE", "AG", "AO", "BS", "BZ", "FJ", "GH", "HK", "IE", "JM", "MO", "QA", "TT"}
)


@dataclass(frozen=True)
class CarrierLimits:
    """What one carrier accepts; None: no limit of its own."""

    max_weight_kg: Decimal | None = None  # per parcel
    max_length_cm: Decimal | None = None  # longest side
    max_parcels: int | None = None  # per shipment
    fields: FieldLimits = NO_FIELD_LIMITS  # text lengths (field_limits.py)
    # A quote's, besides ``fields``, where the carrier's rating API takes less
    # than its labels (UPS's state): never a label's. What a label requires
    # beyond its quote's API (Shippo's zip) is in ``fields``: a label is
    # bought from its quote's request, so that quote could never be bought.
    rating_fields: FieldLimits = NO_FIELD_LIMITS
    # A service's label's, besides ``fields``, by its code or its start:
    # (its name, the fields). Its label is refused; a quote leaves it out.
    service_fields: ServiceRules = field(default_factory=ServiceRules, hash=False)
    pickup_fields: FieldLimits = NO_FIELD_LIMITS  # a pickup's address
    # A pickup's phones by its labels' services' carrier (Shippo's tokens).
    pickup_service_fields: ServiceRules = field(
        default_factory=ServiceRules, hash=False
    )
    address_fields: FieldLimits = NO_FIELD_LIMITS  # an address check's


def require(value: object, param: str) -> None:
    if value in (None, "", ()):
        raise InvalidShippingRequest(
            f"{param} is required", param=param, code="missing_field"
        )


def check_address(address: "Address", param: str) -> None:
    require(address.name, f"{param}.name")
    if not any(line.strip() for line in address.street_lines):
        raise InvalidShippingRequest(
            f"{param}.street_lines needs at least one line",
            param=f"{param}.street_lines",
            code="missing_field",
        )
    require(address.city, f"{param}.city")
    country = address.country_code
    if len(country) != 2 or not country.isalpha() or not country.isupper():
        raise InvalidShippingRequest(
            f"{param}.country_code must be an ISO 3166 alpha-2 code",
            param=f"{param}.country_code",
        )
    if country not in NO_POSTCODE_COUNTRIES and not address.postal_code.strip():
        raise InvalidShippingRequest(
            f"{param}.postal_code is required for {country}",
            param=f"{param}.postal_code",
            code="missing_field",
        )


def check_parcel(parcel: "Parcel", param: str, limits: CarrierLimits) -> None:
    if parcel.weight is None or parcel.weight <= 0:
        raise InvalidShippingRequest(
            f"{param}.weight must be more than zero",
            param=f"{param}.weight",
            code="invalid_weight",
        )
    sides = (parcel.length, parcel.width, parcel.height)
    given = [side for side in sides if side is not None]
    if given and len(given) != 3:
        raise InvalidShippingRequest(
            f"{param} needs length, width and height, or none of them",
            param=f"{param}.length",
            code="missing_field",
        )
    if any(side <= 0 for side in given):
        raise InvalidShippingRequest(
            f"{param} dimensions must be more than zero",
            param=f"{param}.length",
            code="invalid_dimensions",
        )
    _check_limits(parcel, param, limits)


def _check_limits(parcel: "Parcel", param: str, limits: CarrierLimits) -> None:
    weight = parcel.weight_in(WeightUnit.KG)
    if limits.max_weight_kg is not None and weight > limits.max_weight_kg:
        raise InvalidShippingRequest(
            f"{param}.weight exceeds the carrier's {limits.max_weight_kg} kg",
            param=f"{param}.weight",
            code="parcel_too_heavy",
        )
    sides = parcel.dimensions_in(DimensionUnit.CM)
    longest = limits.max_length_cm
    if sides and longest is not None and max(sides) > longest:
        raise InvalidShippingRequest(
            f"{param}.length exceeds the carrier's {longest} cm",
            param=f"{param}.length",
            code="parcel_too_long",
        )


def check_fields(
    from_address: "Address",
    to_address: "Address",
    customs: "Customs | None",
    fields: FieldLimits,
    carrier: str,
) -> None:
    """The first field ``carrier`` cannot take (``field_too_long``);
    ``customs`` only when it is sent (an international shipment)."""
    abroad = from_address.country_code != to_address.country_code
    for param, address in (("from_address", from_address), ("to_address", to_address)):
        _check_phone_given(address, param, fields, carrier, abroad=abroad)
        check_address_fields(address, param, fields, carrier)
    if customs is None:
        return
    for index, item in enumerate(customs.items):
        param = f"customs.items[{index}]"
        limit = fields.customs_description
        _check_text(item.description, f"{param}.description", limit, carrier)
        _check_text(item.hs_code, f"{param}.hs_code", fields.hs_code, carrier)
        _check_short(item.hs_code, f"{param}.hs_code", fields.hs_code_min, carrier)
        _check_text(item.sku, f"{param}.sku", fields.sku, carrier)
    reference, limit = customs.exporter_reference, fields.exporter_reference
    _check_text(reference, "customs.exporter_reference", limit, carrier)


def _check_phone_given(
    address: "Address", param: str, fields: FieldLimits, carrier: str, *, abroad: bool
) -> None:
    # A phone the carrier's label requires: none would be its refusal of
    # the label, after a quote it could never become.
    if address.phone.strip():
        return
    if fields.phone_always or (fields.to_phone and param == "to_address"):
        raise InvalidShippingRequest(
            f"{param}.phone is required by {carrier}",
            param=f"{param}.phone",
            code="missing_field",
        )
    if fields.phone_abroad and abroad:
        raise InvalidShippingRequest(
            f"{param}.phone is required by {carrier} for a shipment abroad",
            param=f"{param}.phone",
            code="missing_field",
        )


def check_address_fields(
    address: "Address", param: str, fields: FieldLimits, carrier: str
) -> None:
    """The first of ``address``'s fields ``carrier`` cannot take, as it is
    sent (``fields.as_sent``): ``field_too_long`` naming ``param.field``."""
    _check_phone(address.phone, f"{param}.phone", fields, carrier)
    # Every carrier's: a US state's name is sent as its code, an ISO 3166-2
    # code as its short code (base.py).
    address = state_sent(address)
    check_state(address, param, fields)
    if fields.as_sent is not None:
        address = fields.as_sent(address)
    _check_state_given(address, param, fields, carrier)
    _check_sent_forms(address, param, fields, carrier)
    # As sent (a FedEx phone its digits), its extension not counted.
    fewest = fields.phone_min
    _check_short(address.phone, f"{param}.phone", fewest, carrier, "digits")
    for name in _ADDRESS_FIELDS:
        limit = getattr(fields, name)
        if name == "name" and not address.company and fields.name_alone is not None:
            limit = fields.name_alone  # sent as the company too
        _check_text(getattr(address, name), f"{param}.{name}", limit, carrier)
    _check_name_parts(address.name, f"{param}.name", fields, carrier)
    _check_lines(address.street_lines, f"{param}.street_lines", fields, carrier)


def _check_state_given(
    address: "Address", param: str, fields: FieldLimits, carrier: str
) -> None:
    # Where the carrier requires a state, none would come back from it as
    # its own text (a 400 of the carrier's): refused here naming the field.
    country = address.country_code
    required = fields.state_everywhere or country in fields.state_countries
    if required and not address.state_code.strip():
        raise InvalidShippingRequest(
            f"{param}.state_code is required for {country} by {carrier}",
            param=f"{param}.state_code",
            code="missing_field",
        )
    if fields.postal_code_everywhere and not address.postal_code.strip():
        raise InvalidShippingRequest(
            f"{param}.postal_code is required for {country} by {carrier}",
            param=f"{param}.postal_code",
            code="missing_field",
        )


def _check_sent_forms(
    address: "Address", param: str, fields: FieldLimits, carrier: str
) -> None:
    # What the carrier's pattern refuses, as sent (a phone's punctuation
    # dropped): the buyer's text never quoted.
    pattern = fields.phone_pattern
    if pattern is not None and address.phone and not pattern.fullmatch(address.phone):
        raise InvalidShippingRequest(
            f"{param}.phone: {carrier} takes a phone as {fields.phone_form}, "
            "punctuation dropped; this one has letters, an extension or "
            "other text, or too few or too many digits",
            param=f"{param}.phone",
            code="invalid_phone",
        )
    if fields.email_required and not address.email.strip():
        raise InvalidShippingRequest(
            f"{param}.email is required by {carrier} here (its contact)",
            param=f"{param}.email",
            code="missing_field",
        )


def _check_name_parts(name: str, param: str, fields: FieldLimits, carrier: str) -> None:
    # Sent as a first and a last name (name_parts): each has its own limit.
    first, rest = name_parts(name)
    if fields.two_names and not rest:
        raise InvalidShippingRequest(
            f"{param}: {carrier} needs a first and last name here (one word was given)",
            param=param,
            code="invalid_name",
        )
    limit = fields.name_part
    if limit is not None and max(len(first), len(rest)) > limit:
        raise InvalidShippingRequest(
            f"{param} is longer than {carrier} takes (at most {limit} "
            "characters for its first word and for the rest)",
            param=param,
            code="field_too_long",
        )


def _check_phone(phone: str, param: str, fields: FieldLimits, carrier: str) -> None:
    # Sent in its own field (phones.py): its limit is that field's.
    limit = fields.phone_extension
    if limit is not None and not phone_readable(phone):
        # Its digits alone would be a wrong number on the label: refused,
        # not guessed (the phone itself is the buyer's, never in the text).
        raise InvalidShippingRequest(
            f"{param}: {carrier} takes a phone as digits and an extension "
            "(x12, ext. 12, #12 at the end); this one has other text",
            param=param,
            code="invalid_phone",
        )
    if limit is not None and len(phone_extension(phone)) > limit:
        raise InvalidShippingRequest(
            f"{param}: its extension is longer than {carrier} takes "
            f"(at most {limit} digits)",
            param=param,
            code="field_too_long",
        )


def check_pickup_fields(
    request: "PickupRequest", limits: CarrierLimits, carrier: str
) -> None:
    """A pickup's address and instructions against ``carrier``'s pickup
    API's lengths (``limits.pickup_fields``), and its phone where its contact
    requires one, or its labels' carrier does (``pickup_service_fields``)."""
    address, fields = request.address, limits.pickup_fields
    _check_phone_given(address, "address", fields, carrier, abroad=False)
    for code in request.service_codes:
        if (named := limits.pickup_service_fields.get(code)) is not None:
            by = f"{carrier} for {named[0]}"  # "Shippo for UPS"
            _check_phone_given(address, "address", named[1], by, abroad=False)
    check_address_fields(address, "address", fields, carrier)
    _check_text(request.instructions, "instructions", fields.instructions, carrier)


_ADDRESS_FIELDS = (
    "name",
    "company",
    "city",
    "state_code",
    "postal_code",
    "phone",
    "email",
)


def _check_lines(
    lines: Sequence[str], param: str, fields: FieldLimits, carrier: str
) -> None:
    sent = [line for line in lines if line]  # as the adapters send them
    if fields.street_lines is not None and len(sent) > fields.street_lines:
        raise InvalidShippingRequest(
            f"{param}: {carrier} takes at most {fields.street_lines} lines",
            param=param,
            code="field_too_long",
        )
    for index, line in enumerate(lines):
        _check_text(line, f"{param}[{index}]", fields.street_line, carrier)


def _check_text(text: str, param: str, limit: int | None, carrier: str) -> None:
    if limit is not None and len(text) > limit:
        # The limit, never the text: it is the buyer's address.
        raise InvalidShippingRequest(
            f"{param} is longer than {carrier} takes (at most {limit} characters)",
            param=param,
            code="field_too_long",
        )


def _check_short(
    text: str, param: str, fewest: int | None, carrier: str, unit: str = "characters"
) -> None:
    # Only a value given: where the field is optional, none is not short.
    if fewest is not None and text and len(text) < fewest:
        raise InvalidShippingRequest(
            f"{param} is shorter than {carrier} takes (at least {fewest} {unit})",
            param=param,
            code="field_too_short",
        )


def check_customs(customs: "Customs | None") -> None:
    """An international shipment's customs declaration."""
    if customs is None or not customs.items:
        raise InvalidShippingRequest(
            "customs.items: an international shipment needs customs items",
            param="customs.items",
            code="customs_required",
        )
    for index, item in enumerate(customs.items):
        param = f"customs.items[{index}]"
        require(item.description, f"{param}.description")
        require(item.origin_country, f"{param}.origin_country")
        require(item.currency, f"{param}.currency")
        if item.quantity < 1:
            raise InvalidShippingRequest(
                f"{param}.quantity must be at least 1", param=f"{param}.quantity"
            )
        if item.value < 0 or item.weight <= 0:
            bad = "value" if item.value < 0 else "weight"
            raise InvalidShippingRequest(
                f"{param}.{bad} must be positive", param=f"{param}.{bad}"
            )
        _check_customs_currency(item.currency, customs.items[0].currency, param)


def _check_customs_currency(currency: str, first: str, param: str) -> None:
    # Carriers declare one total in one currency: lines in others would be
    # added up as if they were the first line's.
    try:
        money.validate_currency(currency)
    except ValueError:
        raise InvalidShippingRequest(
            f"{param}.currency is not an ISO 4217 currency code",
            param=f"{param}.currency",
            code="invalid_currency",
        ) from None
    if currency.upper() != first.upper():
        raise InvalidShippingRequest(
            f"{param}.currency: every customs item must be in one currency "
            f"({first.upper()})",
            param=f"{param}.currency",
            code="mixed_currencies",
        )


def check_shipment(
    from_address: "Address",
    to_address: "Address",
    parcels: Sequence["Parcel"],
    customs: "Customs | None",
    *,
    limits: CarrierLimits,
    carrier: str = "the carrier",
    quote: bool = False,
) -> None:
    """Everything a rate or label request must satisfy before a call;
    ``carrier``: its name in a refusal of a field too long for it; ``quote``:
    a quote's, also checked against ``limits.rating_fields``."""
    check_address(from_address, "from_address")
    check_address(to_address, "to_address")
    if not parcels:
        raise InvalidShippingRequest(
            "parcels: at least one is required", param="parcels", code="missing_field"
        )
    if limits.max_parcels is not None and len(parcels) > limits.max_parcels:
        raise InvalidShippingRequest(
            f"the carrier takes at most {limits.max_parcels} parcels per shipment",
            param="parcels",
        )
    for index, parcel in enumerate(parcels):
        check_parcel(parcel, f"parcels[{index}]", limits)
    international = from_address.country_code != to_address.country_code
    if international:
        check_customs(customs)
    sent = customs if international else None  # adapters send customs abroad only
    check_fields(from_address, to_address, sent, limits.fields, carrier)
    if quote:
        check_fields(from_address, to_address, sent, limits.rating_fields, carrier)


def check_service(
    from_address: "Address",
    to_address: "Address",
    service_code: str,
    *,
    limits: CarrierLimits,
    carrier: str = "the carrier",
) -> None:
    """What ``service_code``'s label requires beyond the carrier's other
    services' (``limits.service_fields``), the service named in a refusal."""
    named = limits.service_fields.get(service_code)
    if named is not None:
        name, fields = named
        check_fields(from_address, to_address, None, fields, f"{carrier} for {name}")


def date_window(days_ahead: int) -> tuple[date, date]:
    """The days a carrier books: yesterday in UTC to ``days_ahead`` on. On
    the database's clock, as a quote's expiry: a web process whose clock is
    off neither takes a day the buy then refuses, nor refuses a live quote."""
    today = database_now().astimezone(UTC).date()
    return today - timedelta(days=1), today + timedelta(days=days_ahead)


def check_date(day: date | None, param: str, days_ahead: int) -> None:
    """``day`` (None: today) from yesterday in UTC to ``days_ahead`` on."""
    if day is None:
        return
    earliest, latest = date_window(days_ahead)
    if not earliest <= day <= latest:
        raise InvalidShippingRequest(
            f"{param} must be from {earliest.isoformat()} to {latest.isoformat()} "
            f"(carriers book up to {days_ahead} days ahead, none in the past)",
            param=param,
            code="invalid_date",
        )


def check_pickup(
    address: "Address",
    ready: time,
    close: time,
    parcel_count: int,
    pickup_date: date | None = None,
) -> None:
    check_address(address, "address")
    check_date(pickup_date, "pickup_date", MAX_PICKUP_DAYS_AHEAD)
    if close <= ready:
        raise InvalidShippingRequest(
            "close_time must be after ready_time", param="close_time"
        )
    if not 1 <= parcel_count <= MAX_PICKUP_PARCELS:
        raise InvalidShippingRequest(
            f"parcel_count must be from 1 to {MAX_PICKUP_PARCELS}",
            param="parcel_count",
        )
