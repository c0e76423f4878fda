"""Money: the only place that converts amounts.

Inside the project an amount is an ``int`` in the currency's minor unit plus an
ISO 4217 code (``1050`` EUR is €10.50, ``1050`` JPY is ¥1050, ``1005`` KWD is
1.005 KD). No float ever touches money: conversions go through ``Decimal`` and
integer arithmetic, and a value with more decimals than the currency has is
refused rather than rounded.

Providers whose idea of a currency's minor unit differs from ISO 4217, or that
accept some amounts only in steps, declare it on their adapter
(``BaseAdapter.currency_exponents`` / ``amount_steps``) and convert through
the ``to_wire_*`` / ``from_wire_*`` helpers here, never with ad-hoc
multiplications. This module names no provider.
"""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

_NONE: Mapping[str, int] = MappingProxyType({})

# ISO 4217 active codes and their minor-unit exponents. Anything not listed is
# refused: a typo must not become a two-decimal currency by default.


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ZERO_DECIMAL = _codes(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
)
_THREE_DECIMAL = _codes("BHD IQD JOD KWD LYD OMR TND")
_FOUR_DECIMAL = _codes("CLF UYW")
_TWO_DECIMAL = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK
    DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF
    IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA
    MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB
    PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS
    SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS
    VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL
    """
)

EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMAL, 2),
    **dict.fromkeys(_ZERO_DECIMAL, 0),
    **dict.fromkeys(_THREE_DECIMAL, 3),
    **dict.fromkeys(_FOUR_DECIMAL, 4),
}

SYMBOLS: dict[str, str] = {
    "EUR": "€",
    "USD": "$",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "KRW": "₩",
}


# The largest amount, in minor units, every payment gateway accepts: Stripe
# takes at most eight digits (99,999,999: $999,999.99 or ¥99,999,999), except
# in the currencies below, where it allows twelve. Larger amounts are refused
# at our API, never sent (and never reach a bigint column).
MAX_AMOUNT = 99_999_999
_MAX_AMOUNT_BY_CURRENCY: Mapping[str, int] = MappingProxyType({"IDR": 999_999_999_999})
MAX_AMOUNT_ANY = max(MAX_AMOUNT, *_MAX_AMOUNT_BY_CURRENCY.values())


def max_amount(currency: str) -> int:
    """The largest amount in minor units of ``currency`` a gateway accepts."""
    return _MAX_AMOUNT_BY_CURRENCY.get(currency.upper(), MAX_AMOUNT)


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def check_limit(amount: int, currency: str) -> int:
    """``amount`` when its size is within ``max_amount(currency)``, else a
    MoneyError: what a provider sends back is bounded like what we send, so
    an absurd figure never reaches a bigint column or a total."""
    if abs(amount) > max_amount(currency):
        raise MoneyError(f"{currency} amount out of range")
    return amount


def validate_currency(code: str) -> str:
    """The ISO 4217 code upper-cased; MoneyError (a ValueError) if unknown."""
    if not isinstance(code, str):
        raise MoneyError("currency must be a string")
    upper = code.strip().upper()
    if upper not in EXPONENTS:
        raise MoneyError(f"unknown currency {code!r}")
    return upper


def exponent(currency: str) -> int:
    """Digits after the decimal point in ``currency`` (JPY 0, EUR 2, KWD 3)."""
    return EXPONENTS[validate_currency(currency)]


def _check_amount(amount: int) -> None:
    # bool is an int subclass; True is not an amount.
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise MoneyError("amount must be an integer number of minor units")


def _decimal_string(amount: int, places: int) -> str:
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**places)
    if places == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{places}d}"


def _parse_decimal(
    value: str, places: int, currency: str, *, exact_zeros: bool = False
) -> int:
    if not isinstance(value, str):
        raise MoneyError("amount must be given as a decimal string")
    text = value.strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise MoneyError(f"{value!r} is not a decimal amount") from None
    if not number.is_finite() or "e" in text.lower():
        raise MoneyError(f"{value!r} is not a plain decimal amount")
    if exact_zeros:
        # A provider's "1234.0" JPY is exactly 1234: only non-zero digits
        # beyond the currency's places are refused.
        number = number.normalize()
    if -number.as_tuple().exponent > places:  # type: ignore[operator]
        raise MoneyError(f"{currency} amounts have at most {places} decimal places")
    return int(number.scaleb(places))


def to_decimal_string(amount: int, currency: str) -> str:
    """Minor units as the currency's decimal string: ``1050`` EUR -> ``"10.50"``,
    JPY -> ``"1050"``, ``1005`` KWD -> ``"1.005"``."""
    _check_amount(amount)
    return _decimal_string(amount, exponent(currency))


def from_decimal_string(value: str, currency: str) -> int:
    """A decimal string as minor units; more decimals than the currency has
    (``"10.505"`` EUR, ``"1.5"`` JPY) is a MoneyError, never rounded."""
    return _parse_decimal(value, exponent(currency), validate_currency(currency))


def format_amount(amount: int, currency: str) -> str:
    """For people (admin, emails): ``€10.50``, ``¥1,050``, ``1.005 KWD``."""
    _check_amount(amount)
    code = validate_currency(currency)
    places = exponent(code)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**places)
    number = f"{whole:,}" + (f".{fraction:0{places}d}" if places else "")
    symbol = SYMBOLS.get(code)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {code}"


def wire_exponent(currency: str, exponents: Mapping[str, int]) -> int:
    """The exponent used on the wire for ``currency``: ``exponents``' entry
    where a provider differs from ISO 4217, else the ISO one."""
    code = validate_currency(currency)
    return exponents.get(code, EXPONENTS[code])


def _rescale(amount: int, source: int, target: int, currency: str) -> int:
    if target >= source:
        return amount * 10 ** (target - source)
    step = 10 ** (source - target)
    if amount % step:
        raise MoneyError(f"{currency} amount {amount} cannot be sent without rounding")
    return amount // step


def to_wire_minor(
    amount: int,
    currency: str,
    *,
    exponents: Mapping[str, int] = _NONE,
    steps: Mapping[str, int] = _NONE,
) -> int:
    """Our minor units as the integer a provider expects, with its own
    ``exponents`` and the ``steps`` an amount must be a multiple of."""
    _check_amount(amount)
    code = validate_currency(currency)
    step = steps.get(code, 1)
    if amount % step:
        raise MoneyError(f"{code} amounts must be divisible by {step} here")
    return _rescale(amount, EXPONENTS[code], wire_exponent(code, exponents), code)


def from_wire_minor(
    value: int, currency: str, *, exponents: Mapping[str, int] = _NONE
) -> int:
    """The integer a provider sent back, as our minor units."""
    _check_amount(value)
    code = validate_currency(currency)
    return _rescale(value, wire_exponent(code, exponents), EXPONENTS[code], code)


def to_wire_decimal(
    amount: int, currency: str, *, exponents: Mapping[str, int] = _NONE
) -> str:
    """Our minor units as the decimal string a provider expects."""
    _check_amount(amount)
    code = validate_currency(currency)
    places = wire_exponent(code, exponents)
    return _decimal_string(_rescale(amount, EXPONENTS[code], places, code), places)


def from_wire_decimal(
    value: str, currency: str, *, exponents: Mapping[str, int] = _NONE
) -> int:
    """A decimal string from a provider as our minor units."""
    code = validate_currency(currency)
    places = wire_exponent(code, exponents)
    parsed = _parse_decimal(value, places, code, exact_zeros=True)
    return _rescale(parsed, places, EXPONENTS[code], code)
