"""PostgreSQL-only test helpers."""

import contextlib
import threading
from collections.abc import Callable, Iterator

from django.db import connection


def drop_pooled_connection() -> None:
    """The server ends this process's pooled connection (a restart, a
    failover, an idle timeout in a proxy)."""
    import psycopg

    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


# Table -> the highest id the database setup wrote (``record_setup_rows``).
SETUP_ROWS: dict[str, int] = {}
# A digest of those rows as the setup left them (one item, once recorded).
SETUP_DIGEST: list[str] = []


def record_setup_rows() -> None:
    """Keep, across the suite's flushes, the content types and permissions
    the test database was created with. Rows a test adds (ids above these)
    still go; rows a test deletes are written again by post_migrate."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    with connection.cursor() as cursor:
        for model in (ContentType, Permission):
            table = model._meta.db_table
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
            SETUP_ROWS[table] = cursor.fetchone()[0]
    SETUP_DIGEST[:] = [setup_digest()]


def setup_digest() -> str:
    """Every column of every row the setup wrote that is still there, as one
    md5: equal to the recorded one, those rows are as the setup left them."""
    parts = [
        f"(SELECT md5(COALESCE(string_agg(t::text, ',' ORDER BY id), ''))"  # noqa: S608
        f" FROM {table} t WHERE id <= {int(kept)})"
        for table, kept in SETUP_ROWS.items()
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {' || '.join(parts)}")
        return cursor.fetchone()[0]


def post_migrate_unless_kept(original):
    """The flush's post_migrate, without the content types' and permissions'
    receivers while the setup's rows are as it left them: the flush keeps
    them (``flush_by_delete``), so those receivers, which only write rows
    missing, would read ~450 rows to write none (a third of a second a flush).
    Any change to one of them (a row deleted or edited), and all run, as
    before; the rows they leave are then recorded as the ones to keep (a
    permission written again would otherwise go, and come back, at every
    later flush). The other receivers run every time."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes
    from django.contrib.contenttypes.models import ContentType
    from django.db import DEFAULT_DB_ALIAS
    from django.db.models.signals import post_migrate

    kept = {create_permissions, create_contenttypes}

    def emit(verbosity, interactive, db, **kwargs):
        if db != DEFAULT_DB_ALIAS or not SETUP_DIGEST:
            return original(verbosity, interactive, db, **kwargs)
        if setup_digest() != SETUP_DIGEST[0]:
            # A test deleted or edited one: all receivers write what is
            # missing, and what they leave is what later flushes keep.
            original(verbosity, interactive, db, **kwargs)
            record_setup_rows()
            return None
        ContentType.objects.clear_cache()  # what create_contenttypes does first
        with post_migrate.lock:
            every = post_migrate.receivers
            post_migrate.receivers = [r for r in every if _target(r[1]) not in kept]
            post_migrate.sender_receivers_cache.clear()
        try:
            return original(verbosity, interactive, db, **kwargs)
        finally:
            with post_migrate.lock:
                post_migrate.receivers = every
                post_migrate.sender_receivers_cache.clear()

    return emit


def _target(receiver):
    # A signal keeps a weak reference to most receivers.
    import weakref

    return receiver() if isinstance(receiver, weakref.ReferenceType) else receiver


def flush_by_delete(original):
    """PostgreSQL's ``sql_flush`` for the suite: the same empty tables as
    Django's one TRUNCATE, by DELETE. A TRUNCATE gives each of the ~60 tables
    new files (about 1 s a flush), and every transactional test ends in one.

    The tables are locked first as TRUNCATE locks them (so a flush still
    waits for a straggling writer) and the foreign keys, all deferrable, are
    checked at commit, when every table is empty. Sequences are not reset,
    as Django's test flush does not reset them either. Anything else
    (``reset_sequences``, ``allow_cascade``) goes to Django's own.

    Tables in ``SETUP_ROWS`` keep the rows the database setup wrote (ids up
    to the one recorded): content types and permissions, which post_migrate
    would otherwise write again after every flush (~0.05 s each)."""

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or allow_cascade or not tables:
            return original(
                self,
                style,
                tables,
                reset_sequences=reset_sequences,
                allow_cascade=allow_cascade,
            )
        names = [self.quote_name(table) for table in tables]
        deletes = []
        for table, name in zip(tables, names, strict=True):
            kept = SETUP_ROWS.get(table)
            where = "" if kept is None else f" WHERE id > {int(kept)}"
            deletes.append(f"DELETE FROM {name}{where};")  # noqa: S608
        # One statement (psycopg sends one without parameters as it is):
        # one round trip, not one for each of the ~60 tables.
        lock = f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE;"
        return [" ".join([lock, "SET CONSTRAINTS ALL DEFERRED;", *deletes])]

    return sql_flush


# (alias, database name) -> ((schema version, models), Django's tables there).
_TABLES: dict[tuple[str, str], tuple[tuple, list[str]]] = {}
# Moves with any DDL committed, however made (migrate, a migration executor,
# a schema editor, raw SQL, another process): a table created or dropped
# changes the count, one renamed or altered its row's xmin (so the sum).
SCHEMA_VERSION = "SELECT count(*), sum(xmin::text::bigint) FROM pg_catalog.pg_class"


def tables_unless_changed(original):
    """The flush command's ``sql_flush`` with Django's existing tables kept
    per database while its schema version (and the installed models: a
    test's ``available_apps``) stays: Django reads them anew at
    every flush (~10 ms of a flush's ~65), the version costs ~1 ms. A test
    that migrates moves the version, and the next flush reads them again."""

    def sql_flush(style, connection, reset_sequences=True, allow_cascade=False):
        if connection.vendor != "postgresql":
            return original(style, connection, reset_sequences, allow_cascade)
        return connection.ops.sql_flush(
            style,
            django_tables(connection),
            reset_sequences=reset_sequences,
            allow_cascade=allow_cascade,
        )

    return sql_flush


def django_tables(connection) -> list[str]:
    """``django_table_names(only_existing=True)`` of ``connection``'s
    database, read again only when its schema version or the installed
    models moved (a test's ``available_apps`` flushes its apps' tables
    only: that shorter list must not serve the next flush)."""
    from django.apps import apps

    key = (connection.alias, str(connection.settings_dict["NAME"]))
    # The registry's cached list: a few microseconds.
    models = tuple(apps.get_models(include_auto_created=True))
    with connection.cursor() as cursor:
        cursor.execute(SCHEMA_VERSION)
        version = (tuple(cursor.fetchone()), models)
    kept = _TABLES.get(key)
    if kept is None or kept[0] != version:
        tables = connection.introspection.django_table_names(
            only_existing=True, include_views=False
        )
        kept = _TABLES[key] = (version, tables)
    return list(kept[1])


def flush_as_after_a_test(*, available_apps: bool = False) -> None:
    """The flush TransactionTestCase._fixture_teardown runs after each test
    (``available_apps``: of a test that names them, post_migrate inhibited)."""
    from django.core.management import call_command

    call_command(
        "flush",
        verbosity=0,
        interactive=False,
        database="default",
        reset_sequences=False,
        allow_cascade=False,
        inhibit_post_migrate=available_apps,
    )


@contextlib.contextmanager
def on_a_lock_wait(action: Callable[[], object]) -> Iterator[None]:
    """Meanwhile a thread calls ``action`` once a session of this database
    waits for a lock (the race under test has reached its blocking point):
    ``event.set`` wakes waiters together, ``barrier.abort`` breaks a barrier
    its time-out would have broken later. Autocommit: each read is a new
    activity snapshot."""
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    done = threading.Event()

    def watch() -> None:
        with psycopg.connect(**params, autocommit=True) as watcher:
            while not done.is_set():
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE"
                    " datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()[0]
                if waiting:
                    action()
                    return
                done.wait(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(10)


def wait_for_a_lock_wait(at_most: float) -> None:
    """Sleep until another session waits for a lock, or ``at_most`` seconds:
    a fixed sleep of ``at_most`` gave the other side the same chance, only
    always the whole time."""
    blocked = threading.Event()
    with on_a_lock_wait(blocked.set):
        blocked.wait(at_most)


def join_until_it_waits_for_a_lock(thread: threading.Thread, at_most: float) -> None:
    """``thread.join(at_most)`` that also returns once a session waits for a
    lock: blocked behind a transaction that goes on only after the caller's
    next step, the thread would make no progress in the rest of the time."""
    import time

    blocked = threading.Event()
    deadline = time.monotonic() + at_most
    with on_a_lock_wait(blocked.set):
        while thread.is_alive() and not blocked.is_set():
            if time.monotonic() >= deadline:
                return
            thread.join(0.01)
