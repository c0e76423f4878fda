"""The storefront API's OpenAPI schema class (``DEFAULT_SCHEMA_CLASS``).

drf-spectacular's ``AutoSchema`` plus what it cannot see by itself, read from
the same declarations the server enforces, so the schema cannot drift from
them:

- each operation names the scopes it needs (from the view's
  ``required_scopes``, per method): a line in its description and
  ``x-required-scopes``;
- a list's bounds: ``allow_empty=False``, ``min_length`` and ``max_length``
  of a nested ``many=True`` serializer (and ``allow_empty=False`` of a
  ``ListField``) become ``minItems`` / ``maxItems``;
- a PATCH body (``Patched*`` component) declares no ``default``: OpenAPI's
  default is what the server assumes when a field is omitted, and on PATCH
  an omitted field is left unchanged (DRF skips defaults when partial).
"""

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_patched_serializer
from rest_framework import serializers

from integrations.api.permissions import required_scopes_for

SCOPES_KEY = "x-required-scopes"


def scopes_line(scopes: set[str] | None) -> str:
    """The description line naming what an API key needs for an operation."""
    if scopes is None:
        return "API keys are refused here (staff sessions only)."
    if not scopes:
        return "Scopes: none (any valid API key)."
    return "Scopes: " + ", ".join(f"`{name}`" for name in sorted(scopes)) + "."


class ApiAutoSchema(AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        scopes = required_scopes_for(self.view, self.method)
        line = scopes_line(scopes)
        text = operation.get("description", "")
        operation["description"] = f"{text}\n\n{line}" if text else line
        if scopes is not None:
            operation[SCOPES_KEY] = sorted(scopes)
        return operation

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        component = super()._map_basic_serializer(serializer, direction)
        if is_patched_serializer(serializer, direction):
            # Generated clients send declared defaults: a PATCH would reset
            # every field the caller meant to leave alone.
            for prop in component.get("properties", {}).values():
                prop.pop("default", None)
        return component

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)
        if schema.get("type") != "array":
            return
        if not isinstance(field, serializers.ListSerializer | serializers.ListField):
            return
        low = field.min_length or 0
        if not getattr(field, "allow_empty", True):
            low = max(low, 1)
        if low:
            schema["minItems"] = max(low, schema.get("minItems", 0))
        high = field.max_length
        if high is not None and isinstance(field, serializers.ListSerializer):
            # A ListField's max_length is a validator the base class maps.
            schema["maxItems"] = min(high, schema.get("maxItems", high))
