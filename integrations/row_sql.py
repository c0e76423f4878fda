"""A model row written by one hand-built statement: the ORM's INSERT and
UPDATE cost 700-1,500 Python calls apiece (queryset, compiler, cursor
wrappers); the payment write path sends several per request.

The values still come from the model's own fields (``pre_save`` for
defaults and ``auto_now``, ``get_db_prep_save`` for JSON and dates), so a row
written here is the row ``Model.objects.create()`` writes
(``tests/integrations/test_row_sql.py`` compares them on both databases).
No signals are sent: only for models nothing listens to. The statement goes
through ``integrations.db.execute_one`` (``integrations.group_sql`` carries
a commit group's waiting writes with it).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Field, Model

from integrations import group_sql
from integrations.commits import connection_for, group_alone
from integrations.db import execute_one, execute_rows

M = TypeVar("M", bound=Model)


@cache
def _insert_sql(
    model: type[Model], vendor: str, db_clock: tuple[str, ...] = ()
) -> tuple[str, tuple[Field, ...], tuple[Field, ...]]:
    """The INSERT, the fields whose values travel as parameters, and those
    ``db_clock`` names stamped (PostgreSQL) with the database's time in the
    statement itself, read back after the pk (empty elsewhere: SQLite's
    clock is this machine's)."""
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    stamped = tuple(f for f in fields if f.name in db_clock)
    if vendor != "postgresql":
        stamped = ()
    sent = tuple(f for f in fields if f not in stamped)
    columns = ", ".join(f'"{f.column}"' for f in (*sent, *stamped))
    # statement_timestamp(): the time integrations.clock.database_now reads.
    marks = ", ".join(["%s"] * len(sent) + ["statement_timestamp()"] * len(stamped))
    back = ", ".join(f'"{f.column}"' for f in (meta.pk, *stamped))
    sql = (
        # Names from the model's own metadata; values travel as parameters.
        f'INSERT INTO "{meta.db_table}" ({columns}) VALUES ({marks}) '  # noqa: S608
        f"RETURNING {back}"
    )
    return sql, sent, stamped


# Fields whose database value is the Python value itself when it has the
# type named here (or is None): ``get_db_prep_save`` would only check that.
_PLAIN: dict[type[Field], tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.EmailField: (str,),
    models.SlugField: (str,),
    models.IntegerField: (int,),
    models.BigIntegerField: (int,),
    models.SmallIntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
    models.PositiveBigIntegerField: (int,),
    models.BooleanField: (bool,),
}
# Fields whose None is NULL as it is (``get_db_prep_save`` converts none).
_NULL_AS_IS = (models.DateTimeField, models.DateField, models.GenericIPAddressField)
# What a text field converts: if a subclass changes none of it, any str (a
# TextChoices member too) is its own database value (``to_python`` keeps it).
_TEXT_METHODS = ("get_db_prep_save", "get_db_prep_value", "get_prep_value", "to_python")


def _text_as_is(field: Field) -> bool:
    for base in (models.CharField, models.TextField):
        if isinstance(field, base):
            cls = type(field)
            return all(getattr(cls, n) is getattr(base, n) for n in _TEXT_METHODS)
    return False


def _plan(field: Field) -> tuple[bool, tuple[type, ...], bool, bool, bool]:
    """How ``field`` is read and converted: (its ``pre_save`` only reads the
    attribute, the types whose value is the database value as it is, any str
    is, None is, an aware datetime goes to PostgreSQL as it is). Kept on the
    field as ``_row_sql_plan``: a cache keyed by fields would hash each one
    (a Python call) on every row."""
    simple = type(field).pre_save is Field.pre_save
    plain = _PLAIN.get(type(field), ())
    if type(field) in (models.ForeignKey, models.OneToOneField) and isinstance(
        field.target_field, models.AutoField | models.BigAutoField
    ):
        plain = (int,)  # the pk it refers to, as ``get_db_prep_save`` gives it
    text = _text_as_is(field)
    null = bool(plain) or text or type(field) in _NULL_AS_IS
    plan = (simple, plain, text, null, type(field) is models.DateTimeField)
    field._row_sql_plan = plan  # type: ignore[attr-defined]
    return plan


class Prepared:
    """A value already in its database form, which ``field_values`` sends as
    it is in place of the field's own conversion: JSON rendered once (psycopg's
    ``Jsonb`` of the text) rather than decoded to be encoded again."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def field_values(
    fields: Iterable[Field],
    instance: Model,
    *,
    add: bool,
    conn: Any,
    given: Mapping[str, Any] | None = None,
) -> list[Any]:
    """The fields' database values, as ``save()`` computes them; with
    ``given`` (field name -> value, such as an UPDATE's guards) of those
    values instead of the instance's."""
    postgresql = conn.vendor == "postgresql"
    # Loaded fields straight from the instance's dict; a deferred one (absent)
    # through its descriptor, which loads it.
    loaded = instance.__dict__
    values = []
    for field in fields:
        try:
            simple, plain, text, null, moment = field._row_sql_plan  # type: ignore[attr-defined]
        except AttributeError:
            simple, plain, text, null, moment = _plan(field)
        name = field.attname
        if given is not None:
            value = given[field.name]
        elif not simple:
            value = field.pre_save(instance, add)
        elif name in loaded:
            value = loaded[name]
        else:
            value = getattr(instance, name)
        if (
            (value is None and null)
            or type(value) in plain
            or (text and isinstance(value, str))
        ) or (
            moment
            and postgresql
            and type(value) is datetime
            and value.tzinfo is not None
        ):
            values.append(value)  # psycopg takes it as it is
        elif type(value) is Prepared:
            values.append(value.value)
        else:
            values.append(field.get_db_prep_save(value, conn))
    return values


def row_insert(
    instance: M, *, using: str = DEFAULT_DB_ALIAS, db_clock: tuple[str, ...] = ()
) -> M:
    """INSERT ``instance`` (built with its model's defaults) and set its pk.

    ``db_clock``: the fields (stamps another machine compares, by name)
    written with the database's time in the same statement and set on
    ``instance`` from it (``integrations.clock``), whatever ``instance`` held.

    Raises Django's IntegrityError on a unique conflict, like ``save()``.
    """
    conn = connection_for(using)
    sql, fields, stamped = _insert_sql(type(instance), conn.vendor, db_clock)
    params = field_values(fields, instance, add=True, conn=conn)
    row = group_sql.execute(sql, params, using=using, conn=conn)
    assert row is not None
    instance.pk = row[0]
    for field, value in zip(stamped, row[1:], strict=True):
        setattr(instance, field.attname, value)
    instance._state.adding = False
    instance._state.db = using
    return instance


def row_insert_later(
    instance: M, *, using: str = DEFAULT_DB_ALIAS, db_clock: tuple[str, ...] = ()
) -> M:
    """``row_insert``, or (in a commit group on PostgreSQL) with the group's
    next commit, its pk (and ``db_clock`` stamps, as ``row_insert`` writes
    them) set once sent: for a row nothing reads or refers to before that
    commit (an attempt committed just before its call). A unique conflict
    then raises from the commit, which rolls the group back."""
    conn = connection_for(using)
    # Only while the group's block is the only one: with another open the
    # group cannot commit where the caller expects, so the row goes now.
    if conn.vendor != "postgresql" or not group_alone():
        return row_insert(instance, using=using, db_clock=db_clock)
    sql, fields, stamped = _insert_sql(type(instance), conn.vendor, db_clock)
    params = field_values(fields, instance, add=True, conn=conn)
    # Column names from the model's own metadata.
    columns = (type(instance)._meta.pk.column, *(f.column for f in stamped))

    def inserted(value: Any, *stamps: Any) -> None:
        instance.pk = value
        for field, stamp in zip(stamped, stamps, strict=True):
            setattr(instance, field.attname, stamp)
        instance._state.adding = False
        instance._state.db = using

    write = group_sql.Write(
        clauses=(("i", sql),),
        params=tuple(params),
        results=tuple(f'(SELECT "{c}" FROM {{i}})' for c in columns),  # noqa: S608
        on_result=inserted,
    )
    group_sql.defer(write, using=using)
    return instance


def row_update(
    instance: Model,
    names: Iterable[str],
    *,
    where: Mapping[str, Any] | None = None,
    using: str = DEFAULT_DB_ALIAS,
    db_clock: tuple[str, ...] = (),
) -> bool:
    """UPDATE only the fields ``names`` of ``instance``'s row (``auto_now``
    fields refreshed too), guarded by ``where`` (field name -> value the row
    must still hold). False when no row matched: nothing was written.
    ``db_clock``: the fields (by name, such as ``auto_now`` ones) written
    with the database's time in the statement (PostgreSQL) and set on ``instance``
    from it, as ``row_insert`` stamps them."""
    conn = connection_for(using)
    if conn.vendor != "postgresql":
        db_clock = ()  # SQLite's clock is this machine's
    sql, params, stamped = _update_statement(instance, names, where, conn, db_clock)
    row = group_sql.execute(sql, params, using=using, conn=conn)
    if row is None:
        return False
    for field, value in zip(stamped, row[1:], strict=True):
        setattr(instance, field.attname, value)
    return True


def row_update_later(
    instance: Model,
    names: Iterable[str],
    *,
    where: Mapping[str, Any] | None = None,
    then: Callable[[bool], None] | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """``row_update``, sent now or (in a commit group, ``group_sql.defer``)
    with the group's next statement or commit; ``then(matched)`` once sent."""
    conn = connection_for(using)
    sql, params, _stamped = _update_statement(instance, names, where, conn)

    def apart() -> tuple[int]:
        return (int(execute_one(sql, params, conn=conn) is not None),)

    write = group_sql.Write(
        clauses=(("u", sql),),
        params=tuple(params),
        results=("(SELECT count(*) FROM {u})",) if then else (),
        on_result=(lambda count: then(bool(count))) if then else None,
        apart=apart,
    )
    group_sql.defer(write, using=using)


def _update_statement(
    instance: Model,
    names: Iterable[str],
    where: Mapping[str, Any] | None,
    conn: Any,
    db_clock: tuple[str, ...] = (),
) -> tuple[str, list[Any], list[Field]]:
    where = where or {}
    shape = tuple((name, where[name] is None) for name in where)
    sql, fields, guarded, stamped = _update_sql(
        type(instance), tuple(names), shape, db_clock
    )
    params = field_values(fields, instance, add=False, conn=conn)
    params.append(instance.pk)
    # Keyed by field name: a guard may name a foreign key by its attname.
    given = {field.name: where[name] for name, field in guarded}
    guards = [field for _name, field in guarded]
    params += field_values(guards, instance, add=False, conn=conn, given=given)
    return sql, params, stamped


@lru_cache(maxsize=256)
def _update_sql(
    model: type[Model],
    names: tuple[str, ...],
    shape: tuple[tuple[str, bool], ...],
    db_clock: tuple[str, ...] = (),
) -> tuple[str, list[Field], list[tuple[str, Field]], list[Field]]:
    """The UPDATE of ``names`` (and ``auto_now`` fields), guarded by the pk
    and ``shape`` ((field name, must be NULL)): its SQL, the fields set from
    parameters, the guards (name, field) whose values follow the pk, and the
    fields ``db_clock`` names, set to the database's time and read back
    after the pk."""
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    fields += [
        f
        for f in meta.concrete_fields
        if getattr(f, "auto_now", False) and f not in fields
    ]
    stamped = [f for f in fields if f.name in db_clock]
    fields = [f for f in fields if f not in stamped]
    # statement_timestamp(): the time integrations.clock.database_now reads.
    sets = ", ".join(
        [f'"{f.column}" = %s' for f in fields]
        + [f'"{f.column}" = statement_timestamp()' for f in stamped]
    )
    guards = [f'"{meta.pk.column}" = %s']
    guarded = []
    for name, is_null in shape:
        field = meta.get_field(name)
        if is_null:
            guards.append(f'"{field.column}" IS NULL')
            continue
        guards.append(f'"{field.column}" = %s')
        guarded.append((name, field))
    back = ", ".join(f'"{f.column}"' for f in (meta.pk, *stamped))
    sql = (
        f'UPDATE "{meta.db_table}" SET {sets} WHERE {" AND ".join(guards)} '  # noqa: S608
        f"RETURNING {back}"
    )
    return sql, fields, guarded, stamped


def rows_select(
    model: type[M],
    where: str,
    params: Sequence[Any],
    *,
    order_by: Sequence[str] = (),
    using: str = DEFAULT_DB_ALIAS,
) -> list[M]:
    """The rows of ``model`` matching ``where`` (SQL over its columns, with
    ``%s`` for ``params``), as instances loaded the way the ORM loads them
    (the fields' and the backend's converters, then ``Model.from_db``)."""
    conn = connection_for(using)
    sql, names, converters = _select_sql(model, conn.alias, where, tuple(order_by))
    rows = execute_rows(sql, params, using=using, conn=conn)
    loaded = []
    for row in rows:
        values = list(row)
        for index, chain in converters:
            for converter, col in chain:
                values[index] = converter(values[index], col, conn)
        loaded.append(model.from_db(using, names, values))
    return loaded


def rows_select_statement(
    model: type[Model],
    where: str,
    params: Sequence[Any],
    *,
    order_by: Sequence[str] = (),
    using: str = DEFAULT_DB_ALIAS,
) -> tuple[str, list[Any]]:
    """The (sql, params) ``rows_select`` sends for the same arguments: to
    send it ahead (``integrations.db.reads_ahead``)."""
    sql = _select_sql(model, using, where, tuple(order_by))[0]
    return sql, list(params)


@lru_cache(maxsize=64)
def _select_sql(
    model: type[Model], alias: str, where: str, order_by: tuple[str, ...]
) -> tuple[str, list[str], list[tuple[int, list[tuple[Any, Any]]]]]:
    # Keyed by alias, not by connection: each thread has its own, and a
    # cache holding them would keep finished threads' connections alive.
    conn = connections[alias]
    meta = model._meta
    fields = list(meta.concrete_fields)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    order = ", ".join(f'"{meta.get_field(name).column}"' for name in order_by)
    sql = f'SELECT {columns} FROM "{meta.db_table}" WHERE {where}'  # noqa: S608
    if order:
        sql += f" ORDER BY {order}"
    converters = []
    for index, field in enumerate(fields):
        col = field.get_col(meta.db_table)
        found = conn.ops.get_db_converters(col) + field.get_db_converters(conn)
        if found:
            converters.append((index, [(converter, col) for converter in found]))
    return sql, [f.attname for f in fields], converters
