"""What the row_new tests compare of a new instance: its dict, with fresh
per-instance values (public ids, clock defaults, database defaults) by kind."""

from datetime import datetime
from typing import Any

from django.db.models.expressions import DatabaseDefault


def comparable(instance: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in vars(instance).items():
        if name == "_state":
            shown[name] = (value.adding, value.db, dict(value.fields_cache))
        elif isinstance(value, DatabaseDefault):
            shown[name] = ("db default", value.expression)
        elif name == "public_id" and isinstance(value, str):
            shown[name] = value.partition("_")[0]
        elif isinstance(value, datetime):  # a clock default, read twice
            shown[name] = ("moment", value.tzinfo)
        else:
            shown[name] = value
    return shown
