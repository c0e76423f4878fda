"""The API's JSON parser: DRF's, refusing what no view should see.

A string or key holding a control character (tab, line feed and carriage
return excepted in values: free text) or a lone surrogate (valid JSON escape,
no valid text: it cannot be encoded or stored), an integer beyond 64 bits or
a number beyond a double (read as infinity, which jsonb refuses), is a 400
naming the field (``param``), before any view or serializer runs. Kept apart
from ``input_guard``: DRF imports this module while building its settings, so
it must not import ``rest_framework.views``.

``refusal`` and ``json_loads`` are the same rules for JSON that arrives by
another door (a management command's file or argument), so it is refused
there with one line, never stored to fail in PostgreSQL.
"""

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

_CONTROL_IN_KEY = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
INT64_MAX = 2**63 - 1
# Deeper than any of our bodies: a deeper one is refused, never recursed into.
MAX_DEPTH = 32
CODE = "invalid_characters"
MESSAGE = "Control characters (such as NUL) and lone surrogates are not allowed here."

Found = tuple[str, str] | None  # (dotted path, error code)


def _check(value: Any, path: str, depth: int = 0) -> Found:
    """Where the first hostile value in parsed JSON is, and why; or None."""
    if isinstance(value, str):
        return (path, CODE) if _CONTROL_IN_TEXT.search(value) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (path, "out_of_range") if abs(value) > INT64_MAX else None
    if isinstance(value, float):
        # 1e400, NaN, Infinity: JSON's parser takes them, no column can.
        return None if math.isfinite(value) else (path, "out_of_range")
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return (path, "too_deep")
    if isinstance(value, dict):
        for key, item in value.items():
            if _CONTROL_IN_KEY.search(key):
                return (path or key, CODE)
            found = _check(item, f"{path}.{key}" if path else key, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _check(item, f"{path}[{index}]", depth + 1)
            if found is not None:
                return found
    return None


_MESSAGES = {
    CODE: MESSAGE,
    "out_of_range": "The number is out of range.",
    "too_deep": f"JSON nested deeper than {MAX_DEPTH} levels is not accepted.",
}


@dataclass(frozen=True)
class Refusal:
    """Why parsed JSON is refused: where (a dotted path, ``""`` for the top
    value), a code and a sentence for people."""

    param: str
    code: str
    message: str


def refusal(value: Any, path: str = "") -> Refusal | None:
    """The first value in parsed JSON the API would refuse (a control
    character or lone surrogate, an integer beyond 64 bits, nesting deeper
    than MAX_DEPTH), or None."""
    found = _check(value, path)
    if found is None:
        return None
    param, code = found
    return Refusal(param, code, _MESSAGES[code])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def json_loads(text: str) -> Any:
    """``json.loads`` as strict as the API's parser: NaN and Infinity (no
    JSON, and no value jsonb can hold) are a ValueError, and so is nesting
    too deep to decode. A ``json.JSONDecodeError`` for broken syntax."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, refusing control characters and lone surrogates in
    strings and keys and integers beyond 64 bits, with the offending field as
    ``param``."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                f"JSON nested deeper than {MAX_DEPTH} levels is not accepted."
            ) from None
        found = refusal(data)
        if found is not None:
            detail = exceptions.ErrorDetail(found.message, code=found.code)
            raise exceptions.ValidationError({found.param: [detail]})
        return data
