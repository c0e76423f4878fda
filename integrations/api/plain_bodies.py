"""DRF's validation of a serializer's input, in a few Python calls where the
body is plain: a JSON object whose fields DRF would take as they stand.

DRF walks ~30 Python calls a field (empty-value checks, conversion, one call
per validator and two inside each). ``validated`` checks the plain cases
inline, with DRF's own rules, and answers None for anything else (a value
of another type, a field DRF refuses, a field kind it does not know), so the
caller runs DRF's own ``run_validation`` and every error is DRF's.
"""

import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from rest_framework import serializers
from rest_framework.fields import (
    BooleanField,
    CharField,
    DictField,
    Field,
    IntegerField,
    SkipField,
    empty,
)
from rest_framework.validators import ProhibitSurrogateCharactersValidator

# What a quick check answers when DRF must decide.
_DRF = object()
_REFUSED = (serializers.ValidationError, DjangoValidationError)


class SurrogateSearch(ProhibitSurrogateCharactersValidator):
    """DRF's check as one regex search: its generator costs a Python call
    per character of every string in the body."""

    def __call__(self, value: Any) -> None:
        found = _SURROGATE.search(str(value))
        if found is not None:
            message = self.message.format(code_point=ord(found.group()))
            raise serializers.ValidationError(message, code=self.code)


_SURROGATE = re.compile("[\ud800-\udfff]")


def surrogates_searched(serializer: serializers.Serializer) -> None:
    """Bind ``serializer``'s fields, each string field checked by a search."""
    fields = list(serializer.fields.values())
    fields += [f.child for f in fields if isinstance(f, DictField)]
    for field in fields:
        field.validators = [
            SurrogateSearch()
            if type(check) is ProhibitSurrogateCharactersValidator
            else check
            for check in field.validators
        ]


def validated(serializer: serializers.Serializer, data: Any) -> dict[str, Any] | None:
    """``serializer.run_validation(data)`` where ``data`` is a plain body DRF
    accepts, else None (run DRF's own). The serializer's fields must not
    change once bound (its plan is kept on it)."""
    plan = serializer.__dict__.get("_plain_plan", _DRF)
    if plan is _DRF:
        plan = serializer.__dict__["_plain_plan"] = _plan(serializer)
    if plan is None or type(data) is not dict:
        return None
    attrs = _fields_validated(plan, data)
    if attrs is None:
        return None
    try:
        attrs = serializer.validate(attrs)
    except _REFUSED:
        return None  # DRF's run answers it, in its shape
    return attrs


_Check = Callable[[Any], Any]
_Step = tuple[str, Field, "_Check | None", "Callable[[Any], Any] | None", bool]


def _plan(serializer: serializers.Serializer) -> list[_Step] | None:
    """Each writable field: its name, the field, its quick check (None: DRF's
    own run for that field), its ``validate_<name>`` method and whether DRF's
    plain empty-value rules decide a missing or null value. None for a
    serializer DRF must always run (validators of its own, partial)."""
    if serializer.validators or serializer.partial or not _drfs_own(serializer):
        return None
    plan = []
    for field in serializer._writable_fields:
        if field.source_attrs != [field.field_name]:
            return None
        method = getattr(serializer, f"validate_{field.field_name}", None)
        # DRF's empty-value rules call the field's get_default: its own if any.
        run = type(field).run_validation
        plain_empty = _own(field, Field, "get_default") and run in (
            Field.run_validation,
            CharField.run_validation,  # its blank check passes missing, null
        )
        step = (field.field_name, field, _check_of(field), method, plain_empty)
        plan.append(step)
    return plan


_SERIALIZER_RUN = ("run_validation", "to_internal_value", "run_validators")


def _drfs_own(serializer: serializers.Serializer) -> bool:
    """``serializer`` validates the way DRF's ``Serializer`` does."""
    kind = type(serializer)
    own = serializers.Serializer
    return all(getattr(kind, n) is getattr(own, n) for n in _SERIALIZER_RUN)


def _fields_validated(plan: list[_Step], data: dict[str, Any]) -> dict | None:
    """DRF's ``Serializer.to_internal_value`` for ``data``, or None."""
    attrs = {}
    for name, field, check, method, plain_empty in plan:
        value = data.get(name, empty)
        try:
            if plain_empty and (value is empty or value is None):
                value = _empty_value(field, value)
            elif check is None:
                value = field.run_validation(field.get_value(data))
            else:
                value = check(value)
                if value is _DRF:
                    return None
            if method is not None:
                value = method(value)
        except SkipField:
            continue
        except _REFUSED:
            return None
        attrs[name] = value
    return attrs


def _empty_value(field: Field, value: Any) -> Any:
    """DRF's ``validate_empty_values`` and ``get_default`` for a missing or
    null value (the serializer is not partial); raises ValidationError where
    DRF would refuse it (the caller lets DRF say so)."""
    if value is None:
        if not field.allow_null:
            raise serializers.ValidationError("null")
        return None
    if field.required:
        raise serializers.ValidationError("required")
    default = field.default
    if default is empty:
        raise SkipField
    if not callable(default):
        return default
    return default(field) if getattr(default, "requires_context", False) else default()


_CHILDREN = "run_child_validation"
_VALIDATORS = "run_validators"


def _own(field: Field, cls: type, *names: str) -> bool:
    """``field`` runs ``cls``'s own ``names`` and Field's empty-value rules."""
    kind = type(field)
    return (
        isinstance(field, cls)
        and kind.validate_empty_values is Field.validate_empty_values
        and kind.get_value in (Field.get_value, DictField.get_value)
        and all(getattr(kind, n) is getattr(cls, n) for n in (*names, _VALIDATORS))
    )


def _check_of(field: Field) -> _Check | None:
    """A quick check of a present, non-null value of ``field``: DRF's value,
    or ``_DRF``; None where ``field`` is of a kind not covered here."""
    if _own(field, CharField, "run_validation", "to_internal_value"):
        return _text_check(field)
    if _own(field, IntegerField, "run_validation", "to_internal_value"):
        return _integer_check(field)
    if _own(field, BooleanField, "run_validation", "to_internal_value"):
        return _boolean_check(field)
    if _own(field, DictField, "run_validation", "to_internal_value", _CHILDREN):
        return _dict_check(field)
    return None


def _others_pass(others: list[Any], field: Field, value: Any) -> bool:
    """Validators not checked inline, called as DRF calls them."""
    try:
        for check in others:
            if getattr(check, "requires_context", False):
                check(value, field)
            else:
                check(value)
    except _REFUSED:
        return False
    return True


def _text_check(field: CharField) -> _Check:
    """CharField: a str, trimmed as DRF trims it, within its lengths, no NUL,
    no lone surrogate; any other validator called."""
    longest, shortest, others = None, None, []
    nul = surrogate = False
    for check in field.validators:
        kind, limit = type(check), getattr(check, "limit_value", None)
        if kind is MaxLengthValidator and type(limit) is int:
            longest = limit if longest is None else min(longest, limit)
        elif kind is MinLengthValidator and type(limit) is int:
            shortest = limit if shortest is None else max(shortest, limit)
        elif kind is ProhibitNullCharactersValidator:
            nul = True
        elif kind in (ProhibitSurrogateCharactersValidator, SurrogateSearch):
            surrogate = True
        else:
            others.append(check)
    trim, blank_ok = field.trim_whitespace, field.allow_blank
    longest = float("inf") if longest is None else longest
    shortest = shortest or 0

    def check(value: Any) -> Any:
        if type(value) is not str:
            return _DRF
        text = value.strip() if trim else value
        if not text:  # DRF's blank: '' or, trimmed, only whitespace
            return "" if blank_ok else _DRF
        if not shortest <= len(text) <= longest:
            return _DRF
        if (nul and "\x00" in text) or (surrogate and _SURROGATE.search(text)):
            return _DRF
        if others and not _others_pass(others, field, text):
            return _DRF
        return text

    return check


# Beyond this many digits DRF's ``int(str(value))`` meets Python's limit.
_INT_BOUND = 10**100


def _integer_check(field: IntegerField) -> _Check:
    """IntegerField: an int (not a bool) within its bounds."""
    low, high, others = -_INT_BOUND, _INT_BOUND, []
    for check in field.validators:
        kind, limit = type(check), getattr(check, "limit_value", None)
        if kind is MaxValueValidator and type(limit) is int:
            high = min(high, limit)
        elif kind is MinValueValidator and type(limit) is int:
            low = max(low, limit)
        else:
            others.append(check)

    def check(value: Any) -> Any:
        if type(value) is not int or not low <= value <= high:
            return _DRF
        if others and not _others_pass(others, field, value):
            return _DRF
        return value

    return check


def _boolean_check(field: BooleanField) -> _Check:
    """BooleanField: a JSON true or false, as it stands."""
    others = list(field.validators)

    def check(value: Any) -> Any:
        if type(value) is not bool:
            return _DRF
        if others and not _others_pass(others, field, value):
            return _DRF
        return value

    return check


def _dict_check(field: DictField) -> _Check | None:
    """DictField of a plainly checked child: an object of str keys, each
    value checked as the child; the dict's own validators called."""
    child_check = _check_of(field.child)
    if child_check is None:
        return None
    allow_empty, others = field.allow_empty, list(field.validators)

    def check(value: Any) -> Any:
        if type(value) is not dict or (not value and not allow_empty):
            return _DRF
        shown = {}
        for key, item in value.items():
            if type(key) is not str or item is None:
                return _DRF  # DRF's str(key), its child's null rules
            item = child_check(item)
            if item is _DRF:
                return _DRF
            shown[key] = item
        if others and not _others_pass(others, field, shown):
            return _DRF
        return shown

    return check
