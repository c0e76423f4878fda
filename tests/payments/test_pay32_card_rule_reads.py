"""pay32 (PostgreSQL): the card's hard-decline rule (``card_rule``) reads a
bounded number of rows however busy the card: its final declines (the
partial index ``payment_card_final_decline``), then only approvals made
after the newest of them (``payment_card_approval``). It read every charge
of the card in one aggregate, once per due charge of the run and on each
charge of the card: thousands of rows for a card charged for years."""

import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments import services
from payments.models import Payment, PaymentStatus

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BUSY = 3_000


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference="cus_busy", source_token="tok_success", idempotency_key="b"
    )


def approvals(method, since) -> None:
    """``BUSY`` captured charges of the card from ``since`` on (another
    customer reference: the velocity screen stays out of it)."""
    Payment.objects.bulk_create(
        Payment(
            order_id=f"o-{n}",
            customer_reference="cus_busy_history",
            amount=500,
            currency="EUR",
            status=PaymentStatus.CAPTURED,
            amount_authorized=500,
            amount_captured=500,
            account=method.account,
            saved_method=method,
            idempotency_key=f"busy-{n}",
            created_at=since + timedelta(seconds=n),
        )
        for n in range(BUSY)
    )


def lost(method, learnt) -> Payment:
    return Payment.objects.create(
        order_id="o-lost",
        amount=500,
        currency="EUR",
        status=PaymentStatus.FAILED,
        failure_code="lost_or_stolen",
        failure_learnt_at=learnt,
        created_at=learnt,
        account=method.account,
        saved_method=method,
    )


def rule_reads(method) -> list[dict]:
    """The plans of the card's reads of its charges during a one-off charge
    of it, each explained (ANALYZE) after the statistics are fresh."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payments_payment")
    with CaptureQueriesContext(connection) as queries:
        services.saved_method_charge(
            saved_method=method,
            amount=1_200,
            currency="EUR",
            order_id="o-now",
            idempotency_key=uuid.uuid4().hex,
        )
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT")
        and 'FROM "payments_payment"' in q["sql"]
        and '"saved_method_id" =' in q["sql"]
    ]
    assert reads
    plans = []
    for sql in reads:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            (plan,) = cursor.fetchone()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        plans.append(plan[0]["Plan"])
    return plans


def nodes(node: dict) -> list[dict]:
    return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]


def rows_read(plan: dict) -> int:
    """Rows the plan's scans read: returned and thrown away by a filter."""
    return sum(
        n.get("Actual Rows", 0) * n.get("Actual Loops", 1)
        + n.get("Rows Removed by Filter", 0)
        for n in nodes(plan)
        if "Scan" in n["Node Type"]
    )


def indexes(plans: list[dict]) -> set[str]:
    return {n["Index Name"] for p in plans for n in nodes(p) if "Index Name" in n}


def test_a_held_busy_card_is_judged_on_few_rows(primary, method):
    now = timezone.now()
    approvals(method, now - timedelta(days=30))
    lost(method, now - timedelta(days=1))

    plans = rule_reads(method)

    assert Payment.objects.filter(failure_code="payment_method_declined").exists()
    assert all(rows_read(plan) < 50 for plan in plans), plans
    assert {"payment_card_final_decline", "payment_card_approval"} <= indexes(plans)


def test_a_mended_busy_card_is_judged_on_few_rows(primary, method):
    now = timezone.now()
    lost(method, now - timedelta(days=40))
    approvals(method, now - timedelta(days=30))

    plans = rule_reads(method)

    assert not Payment.objects.filter(failure_code="payment_method_declined").exists()
    # Any approval after the decline answers: the first row read does.
    assert all(rows_read(plan) < 50 for plan in plans), plans
    assert "payment_card_final_decline" in indexes(plans)


def test_a_busy_card_never_declined_is_one_read_of_no_row(primary, method):
    approvals(method, timezone.now() - timedelta(days=30))

    plans = rule_reads(method)

    assert all(rows_read(plan) < 50 for plan in plans), plans
    assert "payment_card_final_decline" in indexes(plans)
