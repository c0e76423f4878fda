"""pay45: a recurring charge's ``created_at`` is the database's time, as its
``updated_at`` is (pay44): it was the creating machine's clock, so a charge
created by a machine behind looked hours older than its own first write."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.clock import database_now
from integrations.testing.clocks import whole_machine_clock
from payments import services
from payments.models import RecurringCharge
from payments.services import recurring_manage
from tests.payments.clock_setup import server_database_only  # noqa: F401

pytestmark = pytest.mark.django_db

SKEW = 3 * 3600  # a machine three hours behind


def _create() -> RecurringCharge:
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    with whole_machine_clock(-SKEW):
        return recurring_manage.recurring_create(
            customer_reference="cus_1",
            method_id=method.public_id,
            amount=900,
            currency="EUR",
            interval="month",
        )


def test_a_new_charge_is_created_at_the_database_time(primary):
    charge = _create()
    row = RecurringCharge.objects.get(pk=charge.pk)
    assert abs((database_now() - row.created_at).total_seconds()) < 60
    # One statement stamps both: the same moment, and the caller's copy holds it.
    assert row.created_at == row.updated_at
    assert charge.created_at == row.created_at


def test_the_stamp_costs_no_statement_of_its_own(primary):
    method = services.payment_method_save(
        customer_reference="cus_2", source_token="tok_success", idempotency_key="m2"
    )
    with CaptureQueriesContext(connection) as queries:
        recurring_manage.recurring_create(
            customer_reference="cus_2",
            method_id=method.public_id,
            amount=900,
            currency="EUR",
            interval="month",
        )
    inserts = [q["sql"] for q in queries if "recurringcharge" in q["sql"].lower()]
    assert len(inserts) == 1, inserts
    assert inserts[0].count("statement_timestamp()") == 2, inserts[0]
    assert not [q for q in queries if "now()" in q["sql"].lower()], queries
