"""Helpers for the carrier adapter tests: what was sent, and whether a body
uses only fields the carrier's published example has."""

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def sent(rsps: Any, method: str, url: str) -> list:
    """The requests sent to ``url`` (query string ignored), in order."""
    return [
        call.request
        for call in rsps.calls
        if call.request.method == method and call.request.url.split("?")[0] == url
    ]


def body_of(request: Any) -> dict:
    return json.loads(request.body or b"{}")


def exact_body(request: Any) -> dict:
    """The body with its decimal numbers read as ``Decimal``: a float on the
    way out would show as a long binary fraction here."""
    return json.loads(request.body or b"{}", parse_float=Decimal)


def load(carrier: str, name: str) -> Any:
    return json.loads((FIXTURES / carrier / name).read_text())


def unknown_fields(sent_body: Any, example: Any, path: str = "") -> list[str]:
    """Paths in ``sent_body`` that the carrier's example does not have: a
    misspelt or invented field. Lists compare each element with the
    example's first."""
    if isinstance(sent_body, Mapping) and isinstance(example, Mapping):
        missing = []
        for key, value in sent_body.items():
            where = f"{path}.{key}" if path else key
            if key not in example:
                missing.append(where)
            else:
                missing += unknown_fields(value, example[key], where)
        return missing
    if isinstance(sent_body, list) and isinstance(example, list) and example:
        return [
            field
            for index, item in enumerate(sent_body)
            for field in unknown_fields(item, example[0], f"{path}[{index}]")
        ]
    return []
