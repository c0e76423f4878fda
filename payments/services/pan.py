"""PAN guard: a raw card number is refused wherever it is sent, and never
logged."""

import logging
import re
from collections.abc import Iterable
from typing import Any

from payments.services.errors import PanRefused

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")


# A run of 12-19 digits, optionally split by single spaces or dashes.
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)+")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def looks_like_pan(value: str) -> bool:
    """True when ``value`` holds a Luhn-valid run of 12 to 19 digits."""
    for match in _DIGIT_RUN.finditer(value):
        digits = re.sub(r"[ -]", "", match.group())
        if 12 <= len(digits) <= 19 and _luhn_valid(digits):
            return True
    return False


def _strings(value: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, str(key)
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
    elif value is not None:
        yield path, str(value)


def pan_refuse(*, source_token: str = "", metadata: dict | None = None) -> None:
    """Raise PanRefused if a card number is in the token or the metadata."""
    fields = [("source_token", source_token), *_strings(metadata or {}, "metadata")]
    for param, text in fields:
        if looks_like_pan(text):
            logger.warning("card number refused", extra={"param": param})
            raise PanRefused(
                "Raw card numbers are not accepted; send the token from the "
                "payment provider's client-side SDK.",
                param=param,
            )
