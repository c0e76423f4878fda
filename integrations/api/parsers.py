"""The API's JSON parser: DRF's, refusing what no view should see.

A string or key holding a control character (tab, line feed and carriage
return excepted in values: free text) or a lone surrogate (valid JSON escape,
no valid text: it cannot be encoded or stored), or an integer beyond 64 bits, is a 400
naming the field (``param``), before any view or serializer runs. Kept apart
from ``input_guard``: DRF imports this module while building its settings, so
it must not import ``rest_framework.views``.
"""

import math
import re
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
        found = _check(data, "")
        if found is not None:
            path, code = found
            detail = exceptions.ErrorDetail(_MESSAGES[code], code=code)
            raise exceptions.ValidationError({path: [detail]})
        return data
