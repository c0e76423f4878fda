"""A new, unsaved model instance built as ``Model(**values)`` builds it, for
the payment path's rows: Django's keyword constructor costs ~5 Python calls
a field (a pop, ``get_default``, its lambda, an ``isinstance``, a
``setattr``), ~170 for a payment; here each constant default is copied from
a per-model table and only callable and database defaults are called.

Signals are sent as Django sends them. Anything the table does not cover
(an unknown name, a property, a model with its own ``__init__``) goes to the
model's own constructor.
"""

from typing import Any, TypeVar

from django.db.models import Field, Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import (
    ForeignKeyDeferredAttribute,
)
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

M = TypeVar("M", bound=Model)

# Descriptors that only store the value in the instance's dict, on an
# instance with nothing cached yet.
_PLAIN = (DeferredAttribute, ForeignKeyDeferredAttribute)


# Per model: (the ``_meta.fields`` it was built from, ``_table_of``). A field
# added later (``contribute_to_class``) renews ``_meta.fields``: rebuilt.
_tables: dict[type[Model], tuple[Any, Any]] = {}


def _table_of(model: type[Model]) -> tuple[dict, tuple, frozenset, frozenset] | None:
    """(constant defaults by attname, (attname, default getter) of the others,
    names set through their descriptor, every name taken), or None if the
    model's own constructor must run."""
    meta = model._meta
    if meta.abstract or model.__init__ is not Model.__init__:
        return None
    constants: dict[str, Any] = {}
    called: list[tuple[str, Any]] = []
    through: set[str] = set()
    names: set[str] = set()
    for field in meta.fields:
        if field.column is None or field.generated:
            continue
        # On the class, Django's descriptor gives itself.
        if type(getattr(model, field.attname, None)) not in _PLAIN:
            return None  # a descriptor of its own: Django's way
        names.add(field.attname)
        if field.is_relation:
            names.add(field.name)
            through.add(field.name)
        if field.has_default() and type(field).get_default is not Field.get_default:
            # Its own get_default (ForeignKey: a default instance's pk), as
            # the constructor calls it.
            called.append((field.attname, field.get_default))
        elif field.has_default() and not callable(field.default):
            constants[field.attname] = field.default  # Django shares it too
        elif field.has_default() or field.has_db_default():
            called.append((field.attname, field._get_default))
        else:
            constants[field.attname] = field.get_default()  # None or ""
    return constants, tuple(called), frozenset(through), frozenset(names)


def row_new(model: type[M], **values: Any) -> M:
    """``model(**values)``: the same instance, fewer Python calls."""
    found = _tables.get(model)
    if found is None or found[0] is not model._meta.fields:
        found = _tables[model] = (model._meta.fields, _table_of(model))
    table = found[1]
    if table is None or not values.keys() <= table[3]:
        return model(**values)
    constants, called, through, _names = table
    pre_init.send(sender=model, args=(), kwargs=values)
    instance = model.__new__(model)
    instance._state = ModelState()
    data = instance.__dict__
    data.update(constants)
    for attname, default in called:
        if attname not in values:
            data[attname] = default()
    for name, value in values.items():
        if name in through:
            setattr(instance, name, value)  # caches the object, sets its id
        else:
            data[name] = value
    post_init.send(sender=model, instance=instance)
    return instance
