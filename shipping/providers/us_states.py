"""US states, DC, territories and military "states" by their 2-letter code
or English name, for carriers that take only the code. USPS's v3 specs
(karrio vendors them: modules/connectors/usps/vendor/domestic-labels.yaml
3.9.13 State, addresses.yaml GET /address state) list the codes they take:
"^(AA|AE|AL|AK|AP|AS|AZ|AR|CA|CO|CT|DE|DC|FM|FL|GA|GU|HI|ID|IL|IN|IA|KS|KY|LA|
ME|MH|MD|MA|MI|MN|MS|MO|MP|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PW|PA|PR|RI|SC|
SD|TN|TX|UT|VT|VI|VA|WA|WV|WI|WY)$" ("This is the two-character state code of
the address")."""

import re
from functools import cache

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


def us_state_code(state: str) -> str:
    """The 2-letter code of a US state, DC, territory or military "state"
    given as its code or English name in any case ("Illinois", "il",
    "District of Columbia", "Puerto Rico"); "" when it names none."""
    folded = _folded(state)
    code = folded.upper().replace(" ", "")  # "il", "D.C."
    return code if code in USPS_STATE_CODES else _names().get(folded, "")
