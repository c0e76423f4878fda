"""JSON bodies whose numbers are exact: for providers whose schema wants JSON
numbers for money and weights (DHL Express, FedEx, USPS), so no amount passes
through a float on the way out (``HttpAdapter.exact_json_numbers``)."""

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def json_bytes(body: Any) -> bytes:
    """``body`` as JSON with each ``Decimal`` written as a JSON number digit
    for digit (``Decimal("19.99")`` -> ``19.99``): money and weights never
    pass through a float on the way out. A float in a body is a bug here."""
    return _encode(body).encode()


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("a JSON body cannot carry NaN or infinity")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("exact JSON bodies carry Decimal, never float")
    if isinstance(value, Mapping):
        pairs = (f"{json.dumps(str(k))}: {_encode(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_encode(item) for item in value) + "]"
    return json.dumps(value)
