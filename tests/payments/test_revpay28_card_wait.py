"""revpay28: the run's check of a card network's retry-after wait (pay28).

1. The wait is read for every due slot of every run: it must read a bounded
   number of rows, not every approved charge the card ever had (pay28 listed
   them all into Python to take their maximum).
2. The slot is moved on the card the run read: a move of the charge to
   another card committed meanwhile is not held by the old card's wait (the
   claim checks the method; the move of the slot did not)."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from psycopg import sql as pgsql

from payments import services
from payments.models import Payment, PaymentStatus, RecurringCharge
from payments.services import recurring as recurring_module
from payments.services.recurring import recurring_charges_report
from payments.services.recurring_manage import recurring_method_change
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)
from tests.payments.test_revpay26_card_rule import declined_run

pytestmark = pytest.mark.django_db

APPROVED = 5_000


def _many_approvals(method) -> None:
    """``APPROVED`` captured charges of ``method``, made before its decline
    (a busy card: years of charges)."""
    template = Payment.objects.filter(saved_method=method).order_by("pk").first()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'payments_payment'"
        )
        own = {"id", "public_id", "idempotency_key", "status", "created_at"}
        own |= {"failure_code", "failure_advice_code", "failure_learnt_at"}
        names = [name for (name,) in cursor.fetchall() if name not in own]
        copied = pgsql.SQL(", ").join(map(pgsql.Identifier, names))
        cursor.execute(
            pgsql.SQL(
                "INSERT INTO payments_payment ({copied}, public_id, status, "
                "failure_code, failure_advice_code, created_at) SELECT {copied}, "
                "'pay_old_' || g, 'captured', '', '', created_at - "
                "interval '400 days' + g * interval '1 minute' "
                "FROM payments_payment, generate_series(1, %s) g WHERE id = %s"
            ).format(copied=copied),
            [APPROVED, template.pk],
        )
        cursor.execute("ANALYZE payments_payment")


def _rows_returned(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return plan[0]["Plan"]["Actual Rows"]


@pytest.mark.postgres
def test_the_runs_wait_check_reads_few_rows_of_a_busy_card(
    monkeypatch, primary, recurring
):
    declined_run(monkeypatch, "insufficient_funds", "retry_after_4_days")
    _many_approvals(recurring.saved_method)
    other = RecurringCharge.objects.create(
        saved_method=recurring.saved_method,
        amount=700,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )

    with CaptureQueriesContext(connection) as queries:
        recurring_charges_report()

    other.refresh_from_db()
    assert other.next_run_at > timezone.now() + timedelta(days=3)
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "payments_payment"' in q["sql"]
        and "saved_method_id" in q["sql"]
        and "SELECT" in q["sql"][:10]
    ]
    assert reads
    for sql in reads:
        assert _rows_returned(sql) < 100, sql


def test_a_charge_moved_to_another_card_meanwhile_is_not_held_by_the_old_wait(
    monkeypatch, primary, recurring, caplog
):
    declined_run(monkeypatch, "insufficient_funds", "retry_after_10_days")
    waiting = recurring.saved_method
    fresh = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )
    other = RecurringCharge.objects.create(
        saved_method=waiting,
        amount=700,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    due_at = other.next_run_at
    real = recurring_module.advised_until

    def moved_meanwhile(method, *when):
        # Staff move the charge to the fresh card while the run reads the wait.
        until = real(method, *when)
        row = RecurringCharge.objects.get(pk=other.pk)
        if row.saved_method_id == waiting.pk:
            recurring_method_change(recurring=row, method_id=fresh.public_id)
        return until

    monkeypatch.setattr(recurring_module, "advised_until", moved_meanwhile)
    with caplog.at_level("INFO", logger="payments.services"):
        recurring_charges_report()
    monkeypatch.undo()
    # Nothing waits: the log does not say it does.
    assert "waits for the card network" not in caplog.text

    other.refresh_from_db()
    assert other.saved_method_id == fresh.pk
    # Not held for ten days by the card it left: the next run charges it.
    assert other.next_run_at == due_at
    before = charges(primary)
    assert recurring_charges_report().charged == 1
    assert charges(primary) == before + 1
    (paid,) = payments_of(other)
    assert (paid.saved_method_id, paid.status) == (fresh.pk, PaymentStatus.CAPTURED)
