"""pay31's migration 0019: on PostgreSQL the payments table's created_at
column gets the database's clock as its default, and the table is not
rewritten (the same file before and after; stored rows keep their times);
on SQLite, where a changed default would copy the whole table, the schema is
left alone. A card's charge inserted by the historical model at 0019 with
the database's time reads it back. Historical models only. Needs
``--migrations``."""

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone

from tests.migration_state import historical_apps, migrated_back
from tests.payments.clock_setup import table_file_and_default

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0018_payment_failure_learnt_at"
AFTER = "0019_payment_created_at_database_clock"


def _payment(apps, **fields):
    return apps.get_model("payments", "Payment").objects.create(
        order_id="o-1",
        customer_reference="cus-1",
        amount=1_000,
        currency="EUR",
        status="captured",
        **fields,
    )


def test_0019_sets_the_database_clock_without_rewriting_the_table(request):
    with migrated_back(request, "payments", BEFORE):
        before_node, before_default = table_file_and_default("payments_payment")
        long_ago = timezone.now() - timezone.timedelta(days=3)
        old = _payment(
            historical_apps("payments", BEFORE),
            public_id="pay_pay31_old",
            idempotency_key="k-old",
            created_at=long_ago,
        )

    after_node, after_default = table_file_and_default("payments_payment")
    apps = historical_apps("payments", AFTER)
    assert after_node == before_node  # not rewritten
    if connection.vendor == "postgresql":
        assert before_default is None
        assert "statement_timestamp" in str(after_default).lower()
    else:
        assert after_default == before_default
    stored = apps.get_model("payments", "Payment").objects.get(pk=old.pk)
    assert stored.created_at == long_ago

    made = _payment(
        apps, public_id="pay_pay31_new", idempotency_key="k-new", created_at=Now()
    )
    # The database's time, read back by the INSERT itself.
    assert not hasattr(made.created_at, "resolve_expression")
    reread = apps.get_model("payments", "Payment").objects.get(pk=made.pk)
    assert reread.created_at == made.created_at
    assert abs(made.created_at - timezone.now()) < timezone.timedelta(minutes=5)
