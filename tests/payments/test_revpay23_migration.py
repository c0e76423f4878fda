"""revpay23 (review of pay23's migration 0016): one new column with a
constant default, which PostgreSQL adds without rewriting the payments
table (no UPDATE of existing rows, no index built); a payment stored before
reads as one with no advice. Historical models only. Needs ``--migrations``."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0015_recurring_charge_idempotency_key"
AFTER = "0016_payment_failure_advice_code"


def test_0016_adds_the_advice_column_and_rewrites_nothing(request):
    with migrated_back(request, "payments", BEFORE):
        loader = MigrationExecutor(connection).loader
        migration = loader.graph.nodes[("payments", AFTER)]
        sql = " ".join(loader.collect_sql([(migration, False)])).upper()
        assert "ADD COLUMN" in sql
        assert "UPDATE " not in sql
        assert "CREATE INDEX" not in sql
        payment = (
            historical_apps("payments", BEFORE)
            .get_model("payments", "Payment")
            .objects.create(
                public_id="pay_revpay23_migration",
                order_id="o-1",
                customer_reference="cus-1",
                amount=1_000,
                currency="EUR",
                idempotency_key="k-1",
                status="failed",
                failure_code="card_declined",
            )
        )

    apps = historical_apps("payments", AFTER)
    after = apps.get_model("payments", "Payment").objects.get(pk=payment.pk)
    assert (after.failure_code, after.failure_advice_code) == ("card_declined", "")
