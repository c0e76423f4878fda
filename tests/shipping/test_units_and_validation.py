"""Unit conversions and the checks every carrier runs before a call."""

from dataclasses import replace
from decimal import Decimal

import pytest

from shipping.providers.base import CarrierLimits, InvalidShippingRequest, Parcel
from shipping.providers.validation import check_shipment
from shipping.units import convert_length, convert_weight, round_up
from tests.shipping.contract import requests


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        ("1", "lb", "kg", Decimal("0.45359237")),
        ("16", "oz", "lb", Decimal("1")),
        ("1", "kg", "g", Decimal("1000")),
        ("500", "g", "oz", Decimal("17.636980975")),
        ("2.5", "lb", "lb", Decimal("2.5")),
    ],
)
def test_weights_convert_exactly(value, source, target, expected):
    assert convert_weight(value, source, target) == expected


def test_lengths_convert_and_round_trip():
    assert convert_length("10", "in", "cm") == Decimal("25.4")
    centimetres = convert_length("7", "in", "cm")
    assert convert_length(centimetres, "cm", "in") == Decimal(7)


def test_a_float_or_unknown_unit_is_refused():
    with pytest.raises(TypeError):
        convert_weight(1.5, "kg", "lb")
    with pytest.raises(ValueError):
        convert_weight("1", "stone", "kg")


def test_round_up_bills_the_next_step():
    assert round_up(Decimal("1.01"), 1) == Decimal("1.1")
    assert round_up(Decimal("2.00"), 0) == Decimal("2")


_NO_LIMITS = CarrierLimits()


def _check(request, limits=_NO_LIMITS):
    check_shipment(
        request.from_address,
        request.to_address,
        request.parcels,
        request.customs,
        limits=limits,
    )


@pytest.mark.parametrize("param", sorted(requests.INVALID_REQUESTS))
def test_each_invalid_request_names_its_field(param):
    with pytest.raises(InvalidShippingRequest) as info:
        _check(requests.INVALID_REQUESTS[param])
    assert info.value.param == param
    assert info.value.http_status == 400
    assert str(info.value.outcome) == "rejected"


def test_valid_domestic_and_international_requests_pass():
    _check(requests.rate_request())
    _check(requests.international_rate_request())


def test_a_country_without_postcodes_needs_none():
    hong_kong = replace(requests.ABROAD, country_code="HK", postal_code="")
    _check(requests.rate_request(to_address=hong_kong, customs=requests.CUSTOMS))


def test_carrier_limits_in_its_units():
    heavy = Parcel(weight=Decimal("160"), weight_unit="lb")
    limits = CarrierLimits(max_weight_kg=Decimal("68"), max_length_cm=Decimal("100"))
    with pytest.raises(InvalidShippingRequest) as info:
        _check(requests.rate_request(parcels=(heavy,)), limits)
    assert (info.value.param, info.value.code) == (
        "parcels[0].weight",
        "parcel_too_heavy",
    )
    long = replace(requests.PARCEL, length=Decimal(40))  # inches: 101.6 cm
    with pytest.raises(InvalidShippingRequest) as info:
        _check(requests.rate_request(parcels=(requests.PARCEL, long)), limits)
    assert info.value.param == "parcels[1].length"


def test_partial_dimensions_and_bad_customs_are_refused():
    partial = replace(requests.PARCEL, height=None)
    with pytest.raises(InvalidShippingRequest) as info:
        _check(requests.rate_request(parcels=(partial,)))
    assert info.value.param == "parcels[0].length"
    item = replace(requests.CUSTOMS.items[0], quantity=0)
    customs = replace(requests.CUSTOMS, items=(item,))
    with pytest.raises(InvalidShippingRequest) as info:
        _check(requests.rate_request(to_address=requests.ABROAD, customs=customs))
    assert info.value.param == "customs.items[0].quantity"


@pytest.mark.parametrize(
    ("currency", "code"), [("ZZZ", "invalid_currency"), ("JPY", "mixed_currencies")]
)
def test_customs_items_share_one_real_currency(currency, code):
    first = requests.CUSTOMS.items[0]
    second = replace(first, currency=currency)
    customs = replace(requests.CUSTOMS, items=(first, second))
    with pytest.raises(InvalidShippingRequest) as info:
        _check(requests.rate_request(to_address=requests.ABROAD, customs=customs))
    assert (info.value.param, info.value.code) == ("customs.items[1].currency", code)
