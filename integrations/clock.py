"""One clock for every stamp that two processes compare: the database's.

A claim is stamped by a worker and its lease measured by a sweeper on
another machine; a retry's time is set by one worker and found due by the
sweep; a discard is stamped by the web process, a failing streak by another
worker (storefront deliveries). Each is compared with the others to decide
what happens to a row. Machines' clocks differ by a
second or two (NTP), which is enough to turn those decisions round, so the
stamps come from the database server's clock, in the statement that writes
them where that is possible. SQLite is a file that only processes on one
machine open, so there this machine's clock is the database's.
"""

from datetime import datetime

from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone


def database_now() -> datetime:
    """The database server's time (PostgreSQL: at the start of this
    statement); this machine's on SQLite."""
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        (now,) = cursor.fetchone()
    return now


def stamp(now: datetime | None = None) -> datetime | Now:
    """What an UPDATE writes for a stamp others compare: ``now`` if the
    caller gives one (tests set the time), else the database's time at the
    start of the statement (``Now()``: STATEMENT_TIMESTAMP() on PostgreSQL),
    read back by whoever compares it. On SQLite this machine's time, stored
    as the ORM stores any datetime (a claim stamp is matched by equality)."""
    if now is not None:
        return now
    if connection.vendor == "postgresql":
        return Now()
    return timezone.now()
