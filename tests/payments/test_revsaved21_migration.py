"""revsaved21: migration 0013 adds the payment's saved-method FK without
reading the payments table (PostgreSQL marks a FK on a column just added,
all NULL, valid without the scan that ADD CONSTRAINT or a later VALIDATE
would make), and goes back and forth. Needs ``--migrations``."""

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0012_recurring_anchor_day"
AFTER = "0013_saved_method_screening_fields"


def _payments_read() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0)"
            " FROM pg_stat_xact_user_tables WHERE relname = 'payments_payment'"
        )
        return cursor.fetchone()[0]


def test_0013_reads_no_payment_and_its_fk_is_valid(request):
    with migrated_back(request, "payments", BEFORE):
        apps = historical_apps("payments", BEFORE)
        for n in range(3):
            apps.get_model("payments", "Payment").objects.create(
                public_id=f"pay_rs21_{n}",
                order_id=f"o-{n}",
                amount=1_000,
                currency="EUR",
                idempotency_key=f"k-{n}",
            )
        with transaction.atomic():
            assert _payments_read() == 0
            MigrationExecutor(connection).migrate([("payments", AFTER)])
            assert _payments_read() == 0
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT convalidated FROM pg_constraint WHERE conrelid ="
                " 'payments_payment'::regclass AND contype = 'f' AND"
                " pg_get_constraintdef(oid) LIKE '%%saved_method_id%%'"
            )
            assert cursor.fetchall() == [(True,)]
        # And back: the columns go, the rows stay.
        MigrationExecutor(connection).migrate([("payments", BEFORE)])
        apps = historical_apps("payments", BEFORE)
        assert apps.get_model("payments", "Payment").objects.count() == 3
