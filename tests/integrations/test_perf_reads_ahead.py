"""``integrations.db.reads_ahead``: reads sent in the round trip of a
transaction's first statement, served to ``execute_rows`` only while they are
what a fresh read would answer."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.test.utils import CaptureQueriesContext

from integrations import db, db_libpq
from integrations.models import IdempotencyRecord
from integrations.row_sql import row_insert

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

COUNT = 'SELECT count(*) FROM "integrations_idempotencyrecord" WHERE "owner" = %s'
ROWS = (
    'SELECT "owner", "key", "state", "response_body", "created_at" '
    'FROM "integrations_idempotencyrecord" WHERE "owner" = %s ORDER BY "key"'
)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the libpq path exists on PostgreSQL only")


@pytest.fixture
def trips(monkeypatch) -> list[str]:
    """Each round trip of ours: a statement straight to libpq, a pipeline
    (with the number of statements in it), or one through Django's cursor."""
    sent: list[str] = []

    def wrap(name, owner, label):  # type: ignore[no-untyped-def]
        original = getattr(owner, name)

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            sent.append(label(*args))
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    wrap("_execute_libpq", db, lambda _p, sql, _v: "libpq")
    wrap("_pipeline", db_libpq, lambda _pg, _b, steps, _a: f"pipeline of {len(steps)}")
    wrap("_execute", CursorWrapper, lambda _self, sql, *_: "cursor")
    return sent


def claim(key: str, owner: str = "o-1") -> IdempotencyRecord:
    return row_insert(
        IdempotencyRecord(owner=owner, key=key, method="POST", path="/x", state="")
    )


def test_reads_ride_with_the_first_statement_and_are_served(trips):
    claim("k-0")
    with transaction.atomic(), db.reads_ahead([(COUNT, ["o-1"]), (ROWS, ["o-1"])]):
        claim("k-1")
        assert trips[-1] == "pipeline of 3"  # BEGIN, the INSERT, two reads
        before = len(trips)
        assert db.execute_rows(COUNT, ["o-1"]) == [(2,)]  # it sees the INSERT
        served = db.execute_rows(ROWS, ["o-1"])
        assert len(trips) == before  # no round trip
        fresh = db.execute_rows(ROWS, ["o-1"])  # served once: this one is read
        assert len(trips) == before + 1
    assert served == fresh and [row[1] for row in served] == ["k-0", "k-1"]


def test_a_read_with_other_values_goes_to_the_database(trips):
    with transaction.atomic(), db.reads_ahead([(COUNT, ["o-2"])]):
        claim("k-1")
        before = len(trips)
        assert db.execute_rows(COUNT, ["o-1"]) == [(1,)]
        assert len(trips) == before + 1


def test_a_statement_sent_in_between_ends_what_was_read_ahead(trips):
    with transaction.atomic(), db.reads_ahead([(COUNT, ["o-1"])]):
        claim("k-1")
        claim("k-2")  # a write after the reads went
        assert db.execute_rows(COUNT, ["o-1"]) == [(2,)]


def test_nothing_is_served_in_another_transaction(trips):
    with db.reads_ahead([(COUNT, ["o-1"])]):
        with transaction.atomic():
            claim("k-1")
        with transaction.atomic():
            claim("k-2")  # not sent again: this transaction's reads are its own
            assert "pipeline of 1" in trips
            assert db.execute_rows(COUNT, ["o-1"]) == [(2,)]
        assert db.execute_rows(COUNT, ["o-1"]) == [(2,)]


def test_outside_a_transaction_the_reads_are_not_sent(trips):
    with db.reads_ahead([(COUNT, ["o-1"])]):
        claim("k-1")  # autocommit: one statement, nothing rides
        assert trips == ["libpq"]
        with transaction.atomic():
            assert db.execute_rows(COUNT, ["o-1"]) == [(1,)]
    assert trips[-1] == "pipeline of 1"


def test_a_failing_first_statement_drops_the_reads(trips):
    claim("k-1")
    with (
        pytest.raises(IntegrityError),
        transaction.atomic(),
        db.reads_ahead([(COUNT, ["o-1"])]),
    ):
        claim("k-1")  # the same key: refused, the reads after it never ran
    with transaction.atomic(), db.reads_ahead([(COUNT, ["o-1"])]):
        claim("k-2")  # the connection works, and rides again
        assert db.execute_rows(COUNT, ["o-1"]) == [(2,)]
    assert IdempotencyRecord.objects.count() == 2


def test_a_transaction_marked_for_rollback_is_not_served(trips):
    with transaction.atomic(), db.reads_ahead([(COUNT, ["o-1"])]):
        claim("k-1")
        transaction.set_rollback(True)
        with pytest.raises(transaction.TransactionManagementError):
            db.execute_rows(COUNT, ["o-1"])  # refused as a fresh read is


def test_with_queries_recorded_everything_goes_through_the_cursor(trips):
    with (
        CaptureQueriesContext(connection) as captured,
        transaction.atomic(),
        db.reads_ahead([(COUNT, ["o-1"])]),
    ):
        claim("k-1")
        assert db.execute_rows(COUNT, ["o-1"]) == [(1,)]
    assert not [t for t in trips if t.startswith("pipeline")]
    assert (
        sum(
            'count(*) FROM "integrations_idempotencyrecord"' in q["sql"]
            for q in captured.captured_queries
        )
        == 1
    )


def test_reads_deallocated_behind_their_back_are_prepared_again(trips):
    with transaction.atomic(), db.reads_ahead([(COUNT, ["o-1"])]):
        claim("k-1")  # prepares the INSERT and the read
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with transaction.atomic(), db.reads_ahead([(COUNT, ["o-1"])]):
        claim("k-2")  # both names gone: rolled back and sent again, prepared
        before = len(trips)
        assert db.execute_rows(COUNT, ["o-1"]) == [(2,)]
        assert len(trips) == before
    assert IdempotencyRecord.objects.count() == 2


def test_a_read_that_fails_costs_only_itself(trips):
    # revperf: a read sent ahead is an optimisation; its failure no longer
    # fails the statement it rode with (was: the transaction failed).
    broken = 'SELECT count(*) FROM "integrations_idempotencyrecord" WHERE "nope" = %s'
    with transaction.atomic(), db.reads_ahead([(broken, ["o-1"])]):
        claim("k-1")
    assert IdempotencyRecord.objects.count() == 1
    claim("k-2")
    assert IdempotencyRecord.objects.count() == 2
