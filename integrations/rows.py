"""Row helpers every domain needs: many rows locked in one fixed order, and
bulk upserts in batches. Usage notes: ``docs/data-and-api.md``.

Kept apart from ``integrations.db`` (one raw statement on a hot path): these
go through the ORM and work the same on PostgreSQL and SQLite.
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import connections, router, transaction
from django.db.models import F, Field, Model, QuerySet, Subquery
from django.db.transaction import TransactionManagementError

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)


def lock_rows(
    queryset_or_model: QuerySet[M] | type[M],
    keys: Iterable[Any],
    *,
    field: str = "pk",
    skip_locked: bool = False,
    nowait: bool = False,
    of: Sequence[str] = (),
) -> dict[Any, M]:
    """Lock the rows whose unique ``field`` is in ``keys``; return them by key.

    One ``SELECT ... ORDER BY field FOR UPDATE``: PostgreSQL locks rows in
    the order it returns them, so two transactions locking overlapping sets
    (given in any order) queue behind each other instead of deadlocking. On
    SQLite there are no row locks: the project's IMMEDIATE transactions take
    the database write lock at BEGIN, so lockers already run one at a time.

    Keys are converted by the field (``"7"`` finds pk 7) and deduplicated; the
    result is in key order and leaves out keys with no row (and, with
    ``skip_locked``, rows another transaction holds): compare its length with
    the keys to notice. ``skip_locked``, ``nowait`` and ``of`` go to
    ``select_for_update`` (PostgreSQL only). Must run inside
    ``transaction.atomic()``: the locks last until that transaction ends.
    """
    queryset = _queryset(queryset_or_model)
    model_field = _unique_field(queryset.model, field)
    # A NULL key matches no row (NULL = NULL is not true).
    wanted = sorted({model_field.to_python(key) for key in keys} - {None})
    locking = queryset.select_for_update(skip_locked=skip_locked, nowait=nowait, of=of)
    if connections[locking.db].get_autocommit():
        raise TransactionManagementError(
            "lock_rows() must run inside transaction.atomic(): a row lock is "
            "released when its transaction ends, and outside one that is at once."
        )
    if not wanted:
        return {}
    rows = locking.filter(**{f"{model_field.name}__in": wanted}).order_by(
        model_field.name
    )
    return {getattr(row, model_field.attname): row for row in rows}


def locked_by_id(rows: QuerySet) -> QuerySet:
    """``rows`` (theirs alone, not joined ones) to lock in id order. Every
    statement changing many leased rows locks them so, first: one UPDATE
    locks in its plan's order, and two taking the same rows in different
    orders deadlock. Evaluate it, or update through it (``pk__in`` a
    ``Subquery`` of its ids: one statement), in a transaction. Sorted by
    ``id + 0``: the rows are found through the filter's own index, then
    sorted; ``ORDER BY id`` let the planner walk the whole primary key in
    order instead (a sweep read 20,000 waiting rows to end none). For
    integer primary keys."""
    by_id = (F("pk") + 0).asc()
    return rows.order_by(by_id).select_for_update(of=("self",))


def locked_update(rows: QuerySet, **fields: Any) -> int:
    """Update ``rows`` in one statement that locks them by id first
    (``locked_by_id``), in its own transaction unless in the caller's (no
    savepoint); how many rows changed."""
    using = router.db_for_write(rows.model)
    locked = Subquery(locked_by_id(rows).values("pk"))
    with transaction.atomic(using=using, savepoint=False):
        manager = rows.model._default_manager.db_manager(using)
        return manager.filter(pk__in=locked).update(**fields)


def _queryset(queryset_or_model: QuerySet[M] | type[M]) -> QuerySet[M]:
    if isinstance(queryset_or_model, QuerySet):
        return queryset_or_model
    if isinstance(queryset_or_model, type) and issubclass(queryset_or_model, Model):
        return queryset_or_model._default_manager.all()
    raise TypeError("expected a model class or a QuerySet")


def _unique_field(model: type[Model], name: str) -> Field:
    opts = model._meta
    model_field = opts.pk if name == "pk" else opts.get_field(name)
    if not (model_field.primary_key or model_field.unique):
        unique_sets = {frozenset(c.fields) for c in opts.total_unique_constraints}
        if frozenset({model_field.name}) not in unique_sets:
            raise ValueError(
                f"{opts.label}.{model_field.name} is not unique: lock_rows returns "
                "one row per key"
            )
    return model_field


def bulk_upsert(
    model: type[M],
    rows: Iterable[M | Mapping[str, Any]],
    *,
    unique_fields: Sequence[str],
    update_fields: Sequence[str],
    batch_size: int = 500,
) -> int:
    """Insert ``rows``, or update ``update_fields`` of those whose
    ``unique_fields`` already exist; return how many rows were written.

    ``INSERT ... ON CONFLICT (unique_fields) DO UPDATE`` on PostgreSQL and
    SQLite, through ``bulk_create(update_conflicts=True)``, one statement per
    batch. Rows are model instances or dicts of field values. Running the same
    rows again changes nothing more, so a sync cut off half-way is simply run
    again. Rows repeating a key collapse to the last one (a statement may not
    update one row twice); rows are written in key order, so two upserts of
    overlapping rows cannot deadlock. Outside a transaction each batch commits
    on its own; inside ``transaction.atomic()`` all commit or none.

    ``unique_fields`` must be exactly the fields of one unique constraint
    without a condition (the database picks the conflicting row by it).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if not update_fields:
        raise ValueError("bulk_upsert() needs update_fields: what a conflict updates")
    key_fields = _conflict_fields(model, unique_fields)
    ordered = _deduplicated(model, rows, key_fields)
    for start in range(0, len(ordered), batch_size):
        model._default_manager.bulk_create(
            ordered[start : start + batch_size],
            update_conflicts=True,
            unique_fields=[f.name for f in key_fields],
            update_fields=list(update_fields),
        )
    logger.info(
        "rows upserted",
        extra={"model": model._meta.label, "rows": len(ordered)},
    )
    return len(ordered)


def _conflict_fields(model: type[Model], names: Sequence[str]) -> list[Field]:
    opts = model._meta
    fields = [opts.pk if name == "pk" else opts.get_field(name) for name in names]
    wanted = frozenset(f.name for f in fields)
    candidates = {frozenset({f.name}) for f in opts.concrete_fields if f.unique}
    candidates.update(frozenset(together) for together in opts.unique_together)
    # A deferrable constraint cannot decide ON CONFLICT on PostgreSQL.
    candidates.update(
        frozenset(c.fields)
        for c in opts.total_unique_constraints
        if c.deferrable is None
    )
    if not wanted or wanted not in candidates:
        raise ValueError(
            f"unique_fields {sorted(wanted)} are not the fields of one unique "
            f"constraint of {opts.label} (a conditional constraint does not count)"
        )
    return fields


def _deduplicated(
    model: type[M], rows: Iterable[M | Mapping[str, Any]], key_fields: list[Field]
) -> list[M]:
    """The rows as instances, one per key (the last), sorted by key.

    A row with a NULL in its key never conflicts (NULLs are distinct in a
    unique index), so it is kept as given, after the keyed ones.
    """
    keyed: dict[tuple[Any, ...], M] = {}
    unkeyed: list[M] = []
    for row in rows:
        instance = _instance(model, row)
        key = tuple(getattr(instance, f.attname) for f in key_fields)
        if any(value is None for value in key):
            unkeyed.append(instance)
        else:
            keyed[key] = instance
    return [keyed[key] for key in sorted(keyed)] + unkeyed


def _instance(model: type[M], row: M | Mapping[str, Any]) -> M:
    if isinstance(row, Mapping):
        return model(**row)
    if isinstance(row, model):
        return row
    raise TypeError(f"bulk_upsert() rows must be {model.__name__} or dicts")
