"""pay43's migration 0022: on PostgreSQL the payment notes table's
created_at column gets the database's clock as its default, and the table is
not rewritten (the same file before and after; stored notes keep their
times); on SQLite, where a changed default would copy the whole table, the
schema is left alone. A note inserted by the historical model at 0022 reads
the database's time back. Historical models only. Needs ``--migrations``."""

import pytest
from django.db import connection
from django.utils import timezone

from tests.migration_state import historical_apps, migrated_back
from tests.payments.clock_setup import table_file_and_default

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0021_payment_card_retry_advice_index"
AFTER = "0022_payment_note_created_at_database_clock"
TABLE = "payments_paymentnote"


def _note(apps, payment_pk: int, **fields):
    return apps.get_model("payments", "PaymentNote").objects.create(
        payment_id=payment_pk, kind="k", title="t", **fields
    )


def test_0022_sets_the_database_clock_without_rewriting_the_table(request):
    with migrated_back(request, "payments", BEFORE):
        before_node, before_default = table_file_and_default(TABLE)
        apps = historical_apps("payments", BEFORE)
        payment = apps.get_model("payments", "Payment").objects.create(
            order_id="o-1",
            amount=1_000,
            currency="EUR",
            status="captured",
            public_id="pay_pay43_mig",
            idempotency_key="k-pay43",
        )
        long_ago = timezone.now() - timezone.timedelta(days=3)
        old = _note(apps, payment.pk, created_at=long_ago)

    after_node, after_default = table_file_and_default(TABLE)
    apps = historical_apps("payments", AFTER)
    assert after_node == before_node  # not rewritten
    if connection.vendor == "postgresql":
        assert before_default is None
        assert "statement_timestamp" in str(after_default).lower()
    else:
        assert after_default == before_default
    notes = apps.get_model("payments", "PaymentNote").objects
    assert notes.get(pk=old.pk).created_at == long_ago

    made = _note(apps, payment.pk)
    # The database's time, read back by the INSERT itself.
    assert not hasattr(made.created_at, "resolve_expression")
    assert notes.get(pk=made.pk).created_at == made.created_at
    assert abs(made.created_at - timezone.now()) < timezone.timedelta(minutes=5)
