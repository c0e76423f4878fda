"""Reading a bulk send's recipients from a file, one at a time: CSV (an
``email`` column; the other columns are that recipient's template data),
JSON Lines (one object per line) or JSON (a list of objects).

Each recipient is held to the API's rules for JSON (``integrations.api.
parsers``): a control character such as NUL, a lone surrogate, NaN, an
integer beyond 64 bits or deep nesting is an error naming the line and the
field, never a row PostgreSQL refuses to store.
"""

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from integrations.api.parsers import json_loads, refusal

FORMATS = ("csv", "jsonl", "json")


class RecipientsFileError(ValueError):
    """A recipients file that cannot be read; the message says where."""


def recipients_format(path: Path) -> str:
    """The file's format by its extension; RecipientsFileError if unknown."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "ndjson":
        return "jsonl"
    if suffix not in FORMATS:
        raise RecipientsFileError(
            f"{path.name}: unknown format; use .csv, .jsonl or .json."
        )
    return suffix


def read_recipients(handle: TextIO, fmt: str) -> Iterator[dict[str, Any]]:
    """Recipients as ``{"email": ..., <template data>}``, streamed (a JSON
    list is the one format read whole)."""
    if fmt == "csv":
        return _csv(handle)
    if fmt == "jsonl":
        return _jsonl(handle)
    return _json(handle)


def _csv(handle: TextIO) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(handle)
    if not reader.fieldnames or "email" not in reader.fieldnames:
        raise RecipientsFileError("the CSV file has no 'email' column.")
    try:
        for row in reader:
            item = {
                key: value
                for key, value in row.items()
                if key and value not in ("", None)
            }
            yield checked(item, f"line {reader.line_num}")
    except csv.Error as exc:
        # line_num counts the lines read whole: the bad one is the next.
        where = f"near line {reader.line_num + 1}"
        raise RecipientsFileError(
            f"the CSV file is malformed {where}: {exc}."
        ) from None


def _jsonl(handle: TextIO) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        yield checked(_object(_loads(line, where), where), where)


def _json(handle: TextIO) -> Iterator[dict[str, Any]]:
    data = _loads(handle.read(), "the file")
    if not isinstance(data, list):
        raise RecipientsFileError("the JSON file must hold a list of recipients.")
    for index, item in enumerate(data):
        where = f"item {index}"
        yield checked(_object(item, where), where)


def checked(value: dict[str, Any], where: str) -> dict[str, Any]:
    """``value`` if the API would take it; RecipientsFileError naming
    ``where`` and the field if not."""
    found = refusal(value)
    if found is None:
        return value
    # repr: the field's name may hold the very character refused.
    raise RecipientsFileError(f"{where}, field {found.param!r}: {found.message}")


def _loads(text: str, where: str) -> Any:
    try:
        return json_loads(text)
    except json.JSONDecodeError as exc:
        raise RecipientsFileError(f"{where} is not valid JSON ({exc.msg}).") from None
    except ValueError as exc:
        raise RecipientsFileError(f"{where} is not valid JSON ({exc}).") from None


def _object(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RecipientsFileError(f"{where} is not an object with an 'email'.")
    return item
