"""saved21's migration 0013: new columns only (no UPDATE of existing rows,
no index built on the payments table); rows kept before read as a method
with no e-mail or fingerprint and a payment naming no method. Historical
models only. Needs ``--migrations``."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0012_recurring_anchor_day"
AFTER = "0013_saved_method_screening_fields"


def _rows_before() -> tuple[int, int]:
    apps = historical_apps("payments", BEFORE)
    account = apps.get_model("integrations", "ProviderAccount").objects.create(
        kind="payments", provider="sandbox", slug="saved21-migration"
    )
    method = apps.get_model("payments", "SavedPaymentMethod").objects.create(
        public_id="pm_saved21_migration",
        customer_reference="cus-1",
        account=account,
        provider_customer_id="cus_sbx_1",
        provider_method_id="pm_sbx_1",
    )
    payment = apps.get_model("payments", "Payment").objects.create(
        public_id="pay_saved21_migration",
        order_id="o-1",
        customer_reference="cus-1",
        amount=1_000,
        currency="EUR",
        idempotency_key="k-1",
    )
    return method.pk, payment.pk


def test_0013_adds_columns_and_rewrites_nothing(request):
    with migrated_back(request, "payments", BEFORE):
        loader = MigrationExecutor(connection).loader
        migration = loader.graph.nodes[("payments", AFTER)]
        sql = " ".join(loader.collect_sql([(migration, False)])).upper()
        assert "UPDATE " not in sql
        assert "CREATE INDEX" not in sql
        method_pk, payment_pk = _rows_before()

    apps = historical_apps("payments", AFTER)
    method = apps.get_model("payments", "SavedPaymentMethod").objects.get(pk=method_pk)
    assert (method.customer_email, method.card_fingerprint) == ("", "")
    payment = apps.get_model("payments", "Payment").objects.get(pk=payment_pk)
    assert payment.saved_method_id is None
