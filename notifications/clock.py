"""The database's clock, for times two processes compare (a page drawn by
the web process, a row stored by a worker): machines' clocks differ by
seconds, the database has one. A tiny copy of the helper in
``storefront_hooks.services.clock``; a shared one could live in
``integrations``.
"""

from datetime import datetime

from django.db import connection
from django.utils import timezone


def database_now() -> datetime:
    """The database server's time (PostgreSQL: at the start of this
    statement, as ``Now()`` stamps a row); this machine's on SQLite, a file
    only processes on one machine open."""
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        (now,) = cursor.fetchone()
    return now
