"""Whether an address's state names a place in its country, after its name
became its code (``us_states.state_sent``): a US state or territory where
those are taken, else not another country's ISO 3166-2 code, not a place
ISO 3166-1 lists as its own country, not a US state at FM, MH or PW. Any
refusal is an ``invalid_state`` naming ``param.state_code``, the buyer's
text never quoted."""

from typing import TYPE_CHECKING

from shipping.providers.field_limits import FieldLimits
from shipping.providers.invalid_request import InvalidShippingRequest
from shipping.providers.us_states import (
    FREELY_ASSOCIATED,
    US_AND_TERRITORIES,
    USPS_STATE_CODES,
    iso_subdivision,
    own_country,
    prefix_fits,
    state_prefix,
)

if TYPE_CHECKING:
    from shipping.providers.base import Address


def check_state(address: "Address", param: str, fields: FieldLimits) -> None:
    # After its name became its code: a state that names none in the US or
    # a territory would reach the carrier as a wrong state, at every one
    # (the buyer's text never quoted).
    state, country = address.state_code.strip(), address.country_code
    countries = US_AND_TERRITORIES | fields.state_code_countries
    if country not in countries:
        _check_iso_state(state, country, param)
        _check_freely_associated(state, country, param)
        return
    if not state:
        return
    # At a territory's address a US state's code names another place (IL
    # is no Puerto Rican state): the territory's own code only.
    if state in USPS_STATE_CODES and country in ("US", state):
        return
    prefix = state_prefix(state)
    if prefix and not prefix_fits(prefix, country):
        raise _other_prefix(param, country, "or US")
    if prefix == "US" != country or state in USPS_STATE_CODES:
        raise InvalidShippingRequest(
            f"{param}.state_code: at an address in {country} the state must "
            f"name {country} itself, not a US state or another territory; "
            f"give {country}, US-{country} or its name",
            param=f"{param}.state_code",
            code="invalid_state",
        )
    raise InvalidShippingRequest(
        f"{param}.state_code names no US state or territory: give its "
        "2-letter code, with its country prefix or none, or its English name "
        "(IL, US-IL, Illinois)",
        param=f"{param}.state_code",
        code="invalid_state",
    )


def _check_freely_associated(state: str, country: str, param: str) -> None:
    # FM, MH, PW are countries of their own to every carrier but USPS, a
    # state there optional and the place's own: a US state's or another
    # such place's code (a name already made one) would go out as it.
    if country in FREELY_ASSOCIATED and state in USPS_STATE_CODES - {country}:
        raise InvalidShippingRequest(
            f"{param}.state_code names a US state or another place with a "
            f"USPS code, not one in {country}, a country of its own to every "
            f"carrier but USPS: give {country}'s own state, {country} or none, "
            "or the country of the state named",
            param=f"{param}.state_code",
            code="invalid_state",
        )


def _check_iso_state(state: str, country: str, param: str) -> None:
    # Another country's ISO 3166-2 code would reach the carrier as a wrong
    # state (its own is sent as its short code: state_sent).
    own = own_country(state, country)  # CN-HK, or HK at a CN address
    if own:
        raise _own_country(param, country, own)
    iso = iso_subdivision(state)
    if iso is not None and iso[0] != country:
        raise _other_prefix(param, country, "")


def _own_country(param: str, country: str, own: str) -> InvalidShippingRequest:
    # Carriers ship to such a place as its own country (Hong Kong as HK).
    import pycountry

    place = pycountry.countries.get(alpha_2=own)
    name = getattr(place, "common_name", place.name)
    here = ", this address's country" if own == country else ""
    return InvalidShippingRequest(
        f"{param}.state_code names {name}, which ISO 3166-1 lists as a country "
        f"of its own ({own}{here}): give country_code {own} and no such state",
        param=f"{param}.state_code",
        code="invalid_state",
    )


def _other_prefix(param: str, country: str, besides: str) -> InvalidShippingRequest:
    example = "(IL, US-IL, Illinois)" if besides else "(ON, CA-ON)"
    return InvalidShippingRequest(
        f"{param}.state_code has a country prefix other than the address's "
        f"country ({country}){' ' + besides if besides else ''}: give the "
        f"state's code, with that prefix or none, or its "
        f"{'English ' if besides else ''}name {example}",
        param=f"{param}.state_code",
        code="invalid_state",
    )
