"""Reading a bulk send's recipients from a file, one at a time: CSV (an
``email`` column; the other columns are that recipient's template data),
JSON Lines (one object per line) or JSON (a list of objects)."""

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

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
            yield {
                key: value
                for key, value in row.items()
                if key and value not in ("", None)
            }
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
        yield _object(_loads(line, f"line {number}"), f"line {number}")


def _json(handle: TextIO) -> Iterator[dict[str, Any]]:
    data = _loads(handle.read(), "the file")
    if not isinstance(data, list):
        raise RecipientsFileError("the JSON file must hold a list of recipients.")
    for index, item in enumerate(data):
        yield _object(item, f"item {index}")


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecipientsFileError(f"{where} is not valid JSON ({exc.msg}).") from None


def _object(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RecipientsFileError(f"{where} is not an object with an 'email'.")
    return item
