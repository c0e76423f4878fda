"""revpay26 (review of pay26's migration 0018): one nullable column with no
default, which PostgreSQL adds without rewriting the payments table (no
UPDATE of existing rows, no index built); a payment stored before has no
time of learning (the card's rule counts it from its charge's creation).
Historical models only. Needs ``--migrations``."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0017_payment_saved_method_index"
AFTER = "0018_payment_failure_learnt_at"


def test_0018_adds_a_nullable_column_and_rewrites_nothing(request):
    with migrated_back(request, "payments", BEFORE):
        loader = MigrationExecutor(connection).loader
        migration = loader.graph.nodes[("payments", AFTER)]
        sql = " ".join(loader.collect_sql([(migration, False)])).upper()
        assert "ADD COLUMN" in sql
        assert "NOT NULL" not in sql
        assert "DEFAULT" not in sql
        assert "UPDATE " not in sql
        assert "CREATE INDEX" not in sql
        payment = (
            historical_apps("payments", BEFORE)
            .get_model("payments", "Payment")
            .objects.create(
                public_id="pay_revpay26_migration",
                order_id="o-1",
                customer_reference="cus-1",
                amount=1_000,
                currency="EUR",
                idempotency_key="k-1",
                status="failed",
                failure_code="lost_or_stolen",
            )
        )

    apps = historical_apps("payments", AFTER)
    after = apps.get_model("payments", "Payment").objects.get(pk=payment.pk)
    assert (after.failure_code, after.failure_learnt_at) == ("lost_or_stolen", None)
