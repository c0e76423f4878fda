"""The carriers' JSON encoder: decimals leave exactly as written, never
through a float."""

import json
from decimal import Decimal

import pytest

from shipping.providers.carrier_common import json_bytes


def test_decimals_are_json_numbers_digit_for_digit():
    body = {"a": Decimal("19.99"), "b": [Decimal("0.10"), Decimal("1E+1")], "c": 3}

    encoded = json_bytes(body)

    assert encoded == b'{"a": 19.99, "b": [0.10, 10], "c": 3}'
    assert json.loads(encoded, parse_float=Decimal)["a"] == Decimal("19.99")


def test_strings_booleans_and_nulls_are_plain_json():
    encoded = json_bytes({"name": 'Zoë "Q"', "ok": True, "gone": None, "t": ("x",)})

    assert json.loads(encoded) == {
        "name": 'Zoë "Q"',
        "ok": True,
        "gone": None,
        "t": ["x"],
    }


@pytest.mark.parametrize("value", [19.99, Decimal("NaN"), Decimal("Infinity")])
def test_floats_and_non_numbers_are_refused(value):
    with pytest.raises((TypeError, ValueError)):
        json_bytes({"amount": value})
