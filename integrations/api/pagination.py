"""Cursor pagination for every list endpoint (REST_FRAMEWORK's default).

A page is ``{"results": [...], "next": <cursor or null>, "previous": <cursor
or null>}``; the client sends ``?cursor=<next>`` for the following page and
``?limit=`` for its size (``API_PAGE_SIZE`` by default, ``API_MAX_PAGE_SIZE``
at most). Rows are ordered by a stable key, newest first: ``created_at`` then
the primary key, so a row written while a client pages never shifts the
others (an offset would repeat or skip rows). A view whose model has no
``created_at`` names its own key in ``cursor_ordering``; the last field must
be unique. A cursor holds the key values of the row it continues from, so it
stays valid however many rows come and go; a malformed cursor or limit is a
400 in the API's error shape. Usage: ``docs/data-and-api.md``.
"""

import base64
import binascii
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    FieldDoesNotExist,
    ImproperlyConfigured,
    ValidationError,
)
from django.db.models import Field, Model, Q, QuerySet
from django.utils import timezone
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from integrations.api.errors import ApiError
from integrations.api.input_guard import has_control

# Far above any real cursor (a few key values), so decoding stays cheap.
_MAX_CURSOR_LENGTH = 512
_DIGITS = re.compile(r"[0-9]{1,9}")


def _bad_cursor() -> ApiError:
    return ApiError(
        "The cursor is not one this endpoint returned; start again without it.",
        code="invalid_cursor",
        param="cursor",
    )


class CursorPagination(BasePagination):
    ordering: Sequence[str] = ("-created_at", "-pk")
    cursor_query_param = "cursor"
    limit_query_param = "limit"

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Model]:
        self.limit = self._limit(request)
        self.keys = _keys(queryset.model, getattr(view, "cursor_ordering", None))
        position, backwards = self._cursor(request)
        ordering = [
            ("-" if desc != backwards else "") + field.attname
            for field, desc in self.keys
        ]
        if position is not None:
            queryset = queryset.filter(_beyond(self.keys, position, backwards))
        rows = list(queryset.order_by(*ordering)[: self.limit + 1])
        more = len(rows) > self.limit
        rows = rows[: self.limit]
        if backwards:
            rows.reverse()
        has_next = more if not backwards else True
        has_previous = more if backwards else position is not None
        self.next = self._encode(rows[-1], False) if has_next and rows else None
        self.previous = self._encode(rows[0], True) if has_previous and rows else None
        return rows

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.next, "previous": self.previous, "results": data})

    def _limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return page_size()
        maximum = max_page_size()
        if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= maximum:
            raise ApiError(
                f"limit must be a whole number from 1 to {maximum}.",
                code="invalid_limit",
                param=self.limit_query_param,
            )
        return int(raw)

    def _cursor(self, request: Request) -> tuple[list[Any] | None, bool]:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None, False
        if not raw or len(raw) > _MAX_CURSOR_LENGTH:
            raise _bad_cursor()
        try:
            decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (binascii.Error, ValueError):  # bad base64, UTF-8 or JSON
            raise _bad_cursor() from None
        if not (
            isinstance(decoded, dict)
            and isinstance(decoded.get("b"), bool)
            and isinstance(decoded.get("k"), list)
            and len(decoded["k"]) == len(self.keys)
            and all(isinstance(value, str) for value in decoded["k"])
        ):
            raise _bad_cursor()
        fields = [field for field, _ in self.keys]
        values = [_clean(f, v) for f, v in zip(fields, decoded["k"], strict=True)]
        return values, decoded["b"]

    def _encode(self, row: Model, backwards: bool) -> str:
        values = [field.value_to_string(row) for field, _ in self.keys]
        raw = json.dumps({"k": values, "b": backwards}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def get_paginated_response_schema(self, schema: dict) -> dict:
        cursor = {
            "type": "string",
            "nullable": True,
            "description": "Pass as `cursor` to get the page after (next) or "
            "before (previous) this one; null when there is none.",
        }
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                # Examples here let a list endpoint's examples be shown as pages.
                "next": {**cursor, "example": "cD0yMDI2LTEyLTA1KzAyJTNBMTA="},
                "previous": {**cursor, "example": None},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "The `next` or `previous` value of a page this "
                "endpoint returned. A malformed cursor is a 400 `invalid_cursor`.",
                "schema": {"type": "string"},
            },
            {
                "name": self.limit_query_param,
                "in": "query",
                "required": False,
                "description": "Rows per page. Out of range is a 400 `invalid_limit`.",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": max_page_size(),
                    "default": page_size(),
                },
            },
        ]


def page_size() -> int:
    return api_settings.PAGE_SIZE or 20


def max_page_size() -> int:
    return getattr(settings, "API_MAX_PAGE_SIZE", 100)


def _keys(
    model: type[Model], ordering: Sequence[str] | None
) -> list[tuple[Field, bool]]:
    """(field, descending) for each ordering name; the last must be unique."""
    keys: list[tuple[Field, bool]] = []
    for name in ordering or CursorPagination.ordering:
        bare = name.removeprefix("-")
        try:
            field = model._meta.pk if bare == "pk" else model._meta.get_field(bare)
        except FieldDoesNotExist:
            raise ImproperlyConfigured(
                f"{model._meta.label} has no field {bare!r} to page by: set "
                "cursor_ordering on the view"
            ) from None
        if field.null or not field.concrete:
            raise ImproperlyConfigured(
                f"cursor ordering {name!r} of {model._meta.label}: the fields "
                "must be concrete and not null"
            )
        keys.append((field, name.startswith("-")))
    last = keys[-1][0]
    if not (last.primary_key or last.unique):
        raise ImproperlyConfigured(
            f"cursor ordering of {model._meta.label} must end with a unique field"
        )
    return keys


def _clean(field: Field, value: str) -> Any:
    """A cursor value as the field's type, range-checked like a form field."""
    if has_control(value):
        # Base64 hides it from the input guard: checked once decoded.
        raise _bad_cursor()
    try:
        cleaned = field.clean(value, None)
    except ValidationError:
        raise _bad_cursor() from None
    if isinstance(cleaned, datetime) and timezone.is_naive(cleaned):
        raise _bad_cursor()
    return cleaned


def _beyond(keys: list[tuple[Field, bool]], values: list[Any], backwards: bool) -> Q:
    """Rows after ``values`` in the ordering (before them when ``backwards``):
    (a < x) or (a = x and b < y) or ... for a descending key."""
    condition = Q()
    for index, (field, descending) in enumerate(keys):
        lookup = "lt" if descending != backwards else "gt"
        equal = {keys[i][0].attname: values[i] for i in range(index)}
        condition |= Q(**equal, **{f"{field.attname}__{lookup}": values[index]})
    return condition
