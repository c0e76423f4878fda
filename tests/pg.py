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
