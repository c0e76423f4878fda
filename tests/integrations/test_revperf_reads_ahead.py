"""``integrations.db.reads_ahead`` reviewed: a read sent ahead costs at most
itself (never the statement it rides with), and is served only in the
transaction it was read in."""

import pytest
from django.db import connection, transaction

from integrations import db
from integrations.models import IdempotencyRecord
from integrations.row_sql import row_insert

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

COUNT = 'SELECT count(*) FROM "integrations_idempotencyrecord" WHERE "owner" = %s'
# A value PostgreSQL refuses only once it is sent: its type comes from "id".
BY_ID = 'SELECT "key" FROM "integrations_idempotencyrecord" WHERE "id" = %s'


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the libpq path exists on PostgreSQL only")


def claim(key: str, owner: str = "o-1") -> IdempotencyRecord:
    return row_insert(
        IdempotencyRecord(owner=owner, key=key, method="POST", path="/x", state="")
    )


def test_a_read_the_database_refuses_costs_only_itself():
    """The read fails in the claim's pipeline (the transaction aborted): the
    claim is sent again without it and stands; the read is not served."""
    with transaction.atomic(), db.reads_ahead([(BY_ID, ["not a number"])]):
        record = claim("k-1")
        assert db.execute_rows(COUNT, ["o-1"]) == [(1,)]
    assert IdempotencyRecord.objects.filter(pk=record.pk, key="k-1").exists()


def test_a_read_psycopg_cannot_send_costs_only_itself():
    """A NUL cannot be sent as text: that read stays behind, the others ride."""
    reads = [(COUNT, ["o\x00"]), (COUNT, ["o-1"])]
    with transaction.atomic(), db.reads_ahead(reads):
        claim("k-1")
        assert db.execute_rows(COUNT, ["o-1"]) == [(1,)]
    assert IdempotencyRecord.objects.filter(key="k-1").exists()


def test_a_read_is_never_served_in_a_later_transaction_of_the_same_block():
    """``@transaction.atomic`` enters one Atomic object on every call: what
    was read ahead in its first transaction is not the second's answer."""

    @transaction.atomic
    def run(step):  # type: ignore[no-untyped-def]
        return step()

    with db.reads_ahead([(COUNT, ["o-1"])]):
        run(lambda: claim("k-1"))  # the read rides here: one row then
        # Committed meanwhile (through the ORM, as any other code writes).
        IdempotencyRecord.objects.create(
            owner="o-1", key="k-2", method="POST", path="/x", state=""
        )

        def count_again():  # type: ignore[no-untyped-def]
            with connection.cursor() as cursor:  # the new transaction opens
                cursor.execute("SELECT 1")
            return db.execute_rows(COUNT, ["o-1"])

        assert run(count_again) == [(2,)]
