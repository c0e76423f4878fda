"""PostgreSQL-only test helpers."""

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


def flush_by_delete(original):
    """PostgreSQL's ``sql_flush`` for the suite: the same empty tables as
    Django's one TRUNCATE, by DELETE. A TRUNCATE gives each of the ~60 tables
    new files (about 1 s a flush), and every transactional test ends in one.

    The tables are locked first as TRUNCATE locks them (so a flush still
    waits for a straggling writer) and the foreign keys, all deferrable, are
    checked at commit, when every table is empty. Sequences are not reset,
    as Django's test flush does not reset them either. Anything else
    (``reset_sequences``, ``allow_cascade``) goes to Django's own."""

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
        return [
            f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE;",
            "SET CONSTRAINTS ALL DEFERRED;",
            *(f"DELETE FROM {name};" for name in names),  # noqa: S608
        ]

    return sql_flush
