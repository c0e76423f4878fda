"""Weights and lengths, the one module that converts them.

Carriers each want their own units (FedEx and UPS pounds and inches, DHL
kilograms and centimetres, USPS pounds with ounces) and round differently, so
a parcel keeps the units it was entered in and an adapter asks for what its
carrier takes. Decimals only: the factors below are exact by definition
(the international yard and pound agreement), so no float rounding creeps in.
"""

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum

__all__ = [
    "DimensionUnit",
    "WeightUnit",
    "convert_length",
    "convert_weight",
    "round_up",
]


class WeightUnit(StrEnum):
    LB = "lb"
    OZ = "oz"
    KG = "kg"
    G = "g"


class DimensionUnit(StrEnum):
    IN = "in"
    CM = "cm"


# Grams per unit.
_GRAMS = {
    WeightUnit.G: Decimal(1),
    WeightUnit.KG: Decimal(1000),
    WeightUnit.LB: Decimal("453.59237"),
    WeightUnit.OZ: Decimal("453.59237") / 16,
}
# Centimetres per unit.
_CENTIMETRES = {DimensionUnit.CM: Decimal(1), DimensionUnit.IN: Decimal("2.54")}
# Enough places that a round trip through any two units is exact to 6 places.
_PLACES = Decimal("0.000000001")


def _decimal(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        # A float has already lost the digits the caller meant.
        raise TypeError("pass a Decimal, int or str, not a float")
    return Decimal(value)


def convert_weight(value: Decimal | int | str, from_unit: str, to_unit: str) -> Decimal:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (lb, oz, kg, g)."""
    source, target = WeightUnit(from_unit), WeightUnit(to_unit)
    if source == target:
        return _decimal(value)
    grams = _decimal(value) * _GRAMS[source]
    return (grams / _GRAMS[target]).quantize(_PLACES, rounding=ROUND_HALF_UP)


def convert_length(value: Decimal | int | str, from_unit: str, to_unit: str) -> Decimal:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (in, cm)."""
    source, target = DimensionUnit(from_unit), DimensionUnit(to_unit)
    if source == target:
        return _decimal(value)
    centimetres = _decimal(value) * _CENTIMETRES[source]
    return (centimetres / _CENTIMETRES[target]).quantize(
        _PLACES, rounding=ROUND_HALF_UP
    )


def round_up(value: Decimal, places: int = 1) -> Decimal:
    """``value`` rounded up to ``places`` decimals: carriers bill the next
    step, so a rounded-down weight would be refused or re-billed."""
    step = Decimal(1).scaleb(-places)
    return value.quantize(step, rounding=ROUND_CEILING)
