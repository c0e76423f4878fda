"""US states, DC, territories and military "states" by their 2-letter code,
ISO 3166-2 code ("US-IL") or English name, for carriers that take only the
code; elsewhere a state's ISO 3166-2 code ("CA-ON") as its short code
(``state_sent``). USPS's v3 specs (karrio vendors them:
modules/connectors/usps/vendor/domestic-labels.yaml 3.9.13 State,
addresses.yaml GET /address state) list the codes they take:
"^(AA|AE|AL|AK|AP|AS|AZ|AR|CA|CO|CT|DE|DC|FM|FL|GA|GU|HI|ID|IL|IN|IA|KS|KY|LA|
ME|MH|MD|MA|MI|MN|MS|MO|MP|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PW|PA|PR|RI|SC|
SD|TN|TX|UT|VT|VI|VA|WA|WV|WI|WY)$" ("This is the two-character state code of
the address").

Every carrier gets such a state as its code (``us_state_sent``, applied by
the adapters' templates before a call and by the field checks before they
count): UPS's Shipping.yaml StateProvinceCode "For US or Canada, the value
must be a valid US state or Canadian province code", FedEx's
stateOrProvinceCode "Max length is 2", Shippo's AddressBase state "Most
carriers only accept two or three character state abbreviations"."""

import dataclasses
import re
from functools import cache
from types import MappingProxyType

from shipping.providers.shipment_types import Address

USPS_STATE_CODES = frozenset(
    [
        "AA",
        "AE",
        "AL",
        "AK",
        "AP",
        "AS",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FM",
        "FL",
        "GA",
        "GU",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MH",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MP",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PW",
        "PA",
        "PR",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VI",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
    ]
)

# Where an address's state is one of those codes: the US, its territories
# with an ISO code of their own, and the freely associated states USPS
# serves as domestic (DomesticAddress state's pattern).
STATE_COUNTRIES = frozenset({"US", "PR", "GU", "VI", "AS", "MP", "FM", "MH", "PW"})
# Where a state that names none is refused at every carrier: the US and its
# territories. FM, MH and PW are countries to the other carriers, with states
# of their own ("Pohnpei", "Koror"): only USPS refuses those (its limits'
# ``state_code_countries``).
US_AND_TERRITORIES = frozenset({"US", "PR", "GU", "VI", "AS", "MP"})
# Micronesia, the Marshall Islands, Palau: where a USPS code other than the
# place's own names another place at every carrier (validation).
FREELY_ASSOCIATED = STATE_COUNTRIES - US_AND_TERRITORIES

# Names pycountry does not give as buyers write them (the freely associated
# states are countries there; the military codes are USPS's own), and the
# forms carrier-pickup.yaml's state pattern accepts besides the names.
_OTHER_NAMES = {
    "armed forces americas": "AA",
    "armed forces europe": "AE",
    "armed forces pacific": "AP",
    "federated states of micronesia": "FM",
    "micronesia": "FM",
    "marshall islands": "MH",
    "palau": "PW",
    "us virgin islands": "VI",
    "u s virgin islands": "VI",
    "virgin islands": "VI",
    "virgin islands of the united states": "VI",
    "usvi": "VI",
    "samoa": "AS",
    "northern marianas": "MP",
    "marianas": "MP",
    "washington d c": "DC",
}


def _folded(text: str) -> str:
    # "D.C.", "district  of columbia", "Virgin Islands, U.S." read alike.
    return " ".join(re.sub(r"[.,]", " ", text).split()).casefold()


@cache
def _names() -> dict[str, str]:
    import pycountry

    names = dict(_OTHER_NAMES)
    for place in pycountry.subdivisions.get(country_code="US"):
        code = place.code.removeprefix("US-")
        if code in USPS_STATE_CODES:  # not UM, which USPS has no code for
            names[_folded(place.name)] = code
    return names


# ISO 3166-2's form, a country code and a hyphen ("US-IL", "us-il").
_PREFIXED = re.compile(r"([A-Za-z]{2})\s*-\s*(\S.*)")


def state_prefix(state: str) -> str:
    """The country code an ISO 3166-2 style state starts with ("US" of
    "us-il"), upper case; "" when it has none."""
    prefixed = _PREFIXED.fullmatch(state.strip())
    return prefixed.group(1).upper() if prefixed else ""


def prefix_fits(prefix: str, country: str) -> bool:
    """A state's country prefix fits an address in ``country``: its own, or
    the US's, whose ISO 3166-2 lists the territories too (US-PR; at a
    territory's address only its own: ``us_state_code``)."""
    return prefix in (country, "US")


def us_state_code(state: str, country: str = "US") -> str:
    """The 2-letter code of a US state, DC, territory or military "state"
    given as its code, its ISO 3166-2 code ("US-IL", the prefix fitting
    ``country``: ``prefix_fits``) or English name in any case ("Illinois",
    "il", "District of Columbia", "Puerto Rico"); "" when it names none.
    At a territory's address a US- code names that territory or nothing:
    "US-IL" in Puerto Rico would be a wrong state."""
    prefixed = _PREFIXED.fullmatch(state.strip())
    if prefixed:
        prefix = prefixed.group(1).upper()
        if not prefix_fits(prefix, country):
            return ""
        state = prefixed.group(2)
        if prefix == "US" != country:
            return country if _folded(state).upper() == country else ""
    folded = _folded(state)
    code = folded.upper().replace(" ", "")  # "il", "D.C."
    return code if code in USPS_STATE_CODES else _names().get(folded, "")


def us_state_sent(address: Address) -> Address:
    """``address`` with a US state's or territory's name ("Illinois",
    "puerto rico") or ISO 3166-2 code ("US-IL") as its code, as every
    carrier is sent it; any other state as given (one that names none is
    refused: validation)."""
    state = address.state_code
    if address.country_code not in STATE_COUNTRIES or not state.strip():
        return address
    code = us_state_code(state, address.country_code)
    return dataclasses.replace(address, state_code=code) if code else address


# ISO 3166-2's code form: a country, a hyphen, 1 to 3 letters or digits.
_ISO_CODE = re.compile(r"([A-Za-z]{2})\s*-\s*([A-Za-z0-9]{1,3})")


def iso_subdivision(state: str) -> tuple[str, str] | None:
    """(its country, its short code) of a state given as a code ISO 3166-2
    lists ("CA-ON", "au-nsw": ("AU", "NSW")); None for anything else, a
    name with a hyphen included ("Al-Ain" is no ISO code)."""
    import pycountry

    form = _ISO_CODE.fullmatch(state.strip())
    if not form:
        return None
    country, short = form.group(1).upper(), form.group(2).upper()
    if pycountry.subdivisions.get(code=f"{country}-{short}") is None:
        return None
    return country, short


# Ireland's ISO 3166-2 codes (IE-CO) are no carrier's: UPS's StateProvinceCode
# "must contain the county" there (Pickup.yaml: "county for Ireland (IE)"),
# so an Irish code goes as its county's name ("Cork"), never as "CO".
NAMED_STATE_COUNTRIES = frozenset({"IE"})

# ISO 3166-2 entries that ISO 3166-1 also lists as countries of their own,
# each with its code: carriers ship to them as that country, so a state
# naming one is refused (validation) rather than sent as a province (CN-HK
# as "HK" in China). The US territories with a USPS code have rules of
# their own (above).
OWN_COUNTRY_CODES = MappingProxyType(
    {
        "CN-HK": "HK",
        "CN-MO": "MO",
        "CN-TW": "TW",
        "FI-01": "AX",
        "FR-971": "GP",
        "FR-972": "MQ",
        "FR-973": "GF",
        "FR-974": "RE",
        "FR-976": "YT",
        "FR-BL": "BL",
        "FR-MF": "MF",
        "FR-NC": "NC",
        "FR-PF": "PF",
        "FR-PM": "PM",
        "FR-TF": "TF",
        "FR-WF": "WF",
        "NL-AW": "AW",
        # Bonaire, Saba and Sint Eustatius: ISO 3166-1's BQ, the three together.
        "NL-BQ1": "BQ",
        "NL-BQ2": "BQ",
        "NL-BQ3": "BQ",
        "NL-CW": "CW",
        "NL-SX": "SX",
        "NO-21": "SJ",
        "NO-22": "SJ",
        # No USPS code (us_state_code): at a US address it names no state.
        "US-UM": "UM",
    }
)


def subdivision(state: str, country: str) -> tuple[str, str] | None:
    """``iso_subdivision`` of ``state``, or of it as a bare short code of
    ``country``'s ("HK" at a CN address is CN-HK, "co" at an IE one IE-CO):
    the same place, so the same answer as its prefixed code."""
    iso = iso_subdivision(state)
    if iso is None and state_prefix(state) == "":
        iso = iso_subdivision(f"{country}-{state.strip()}")
    return iso


def own_country(state: str, country: str = "") -> str:
    """The ISO 3166-1 code of the place an ISO 3166-2 ``state`` (or, at an
    address in ``country``, its bare short code) names where ISO lists it
    as a country of its own ("CN-HK", "HK" in CN: "HK"); "" otherwise."""
    iso = subdivision(state, country) if country else iso_subdivision(state)
    return OWN_COUNTRY_CODES.get(f"{iso[0]}-{iso[1]}", "") if iso else ""


def _short_state(country: str, short: str) -> str:
    # As carriers take it: the short code, or where none is a carrier's
    # (NAMED_STATE_COUNTRIES) the subdivision's name.
    if country not in NAMED_STATE_COUNTRIES:
        return short
    import pycountry

    return pycountry.subdivisions.get(code=f"{country}-{short}").name


def state_sent(address: Address) -> Address:
    """``address`` with its state as every carrier is sent it: in the US and
    its territories as ``us_state_sent``; elsewhere an ISO 3166-2 code of
    the address's country (or its bare short code) as its short code
    ("CA-ON": "ON"), as carriers
    take a province (UPS StateProvinceCode, FedEx stateOrProvinceCode 2),
    an Irish one as its county's name ("IE-CO", "CO": "Cork"). Another country's
    code is refused (validation), never sent."""
    if address.country_code in STATE_COUNTRIES:
        sent = us_state_sent(address)
        # FM, MH and PW have ISO codes of their own too (FM-TRK).
        if sent is not address or address.country_code in US_AND_TERRITORIES:
            return sent
    country = address.country_code
    iso = subdivision(address.state_code, country)
    # A place ISO 3166-1 lists as a country (CN-HK, HK in CN) is refused,
    # never sent.
    if iso is None or iso[0] != country or own_country(address.state_code, country):
        return address
    return dataclasses.replace(address, state_code=_short_state(*iso))
