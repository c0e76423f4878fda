"""revpay24 (PostgreSQL): the card's decline rule reads a saved method's
charges newest first (``recurring_manage``: a new recurring charge, a
resume). Without an index on ``saved_method`` the planner walks the primary
key backwards through every payment, filtering: for a method with no charge
yet (every new card) that is the whole table, measured at 300,000 rows
removed by the filter, ~160 ms, under the charge's row lock. The rule's own
query, captured from the API, is read by an index on the method."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import sql as pgsql

from payments import services
from payments.models import Payment, PaymentStatus
from tests.payments.recurring_setup import new_charge_on

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PAYMENTS = 60_000
METHODS = 2_000


def many_payments(primary) -> None:
    """``PAYMENTS`` captured payments, a quarter of them on ``METHODS``
    saved methods, the rest on plain tokens; then statistics, as autovacuum
    keeps them."""
    seed = services.payment_method_save(
        customer_reference="cus_seed", source_token="tok_success", idempotency_key="s"
    )
    Payment.objects.create(
        order_id="o-seed",
        amount=100,
        currency="EUR",
        account=primary,
        saved_method=seed,
        status=PaymentStatus.CAPTURED,
        amount_authorized=100,
        amount_captured=100,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_savedpaymentmethod (customer_reference, "
            "account_id, provider_customer_id, provider_method_id, card_brand, "
            "card_last4, customer_email, card_fingerprint, is_default, "
            "created_at, public_id) SELECT 'cus_' || g, account_id, "
            "provider_customer_id, 'pm_bulk_' || g, '', '', '', '', false, "
            "now(), 'pm_bulk_' || g FROM payments_savedpaymentmethod, "
            "generate_series(1, %s) g WHERE id = %s",
            [METHODS, seed.pk],
        )
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'payments_payment'"
        )
        own = {"id", "public_id", "idempotency_key", "saved_method_id"}
        names = [name for (name,) in cursor.fetchall() if name not in own]
        copied = pgsql.SQL(", ").join(map(pgsql.Identifier, names))
        cursor.execute(
            pgsql.SQL(
                "INSERT INTO payments_payment ({copied}, public_id, "
                "saved_method_id) SELECT {copied}, 'pay_bulk_' || g, CASE WHEN "
                "g %% 4 = 0 THEN (SELECT min(id) FROM payments_savedpaymentmethod) "
                "+ g %% %s END FROM payments_payment, generate_series(1, %s) g "
                "WHERE saved_method_id = %s"
            ).format(copied=copied),
            [METHODS, PAYMENTS, seed.pk],
        )
        cursor.execute("ANALYZE payments_payment")


def card_rule_queries(api) -> list[str]:
    """The SQL the card's rules ran for a new recurring charge on a new saved
    method (no charge on it yet): the decline rule's, and (pay28) those of
    the network's retry-after wait."""
    fresh = services.payment_method_save(
        customer_reference="cus_new", source_token="tok_success", idempotency_key="n"
    )
    with CaptureQueriesContext(connection) as queries:
        response = new_charge_on(api, fresh, "cus_new")
    assert response.status_code == 201, response.content
    found = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "payments_payment"' in q["sql"] and "saved_method_id" in q["sql"]
    ]
    assert found
    return found


def plan_nodes(node: dict) -> list[dict]:
    return [node, *(n for child in node.get("Plans", []) for n in plan_nodes(child))]


def test_the_card_rule_reads_a_methods_charges_by_an_index(api, primary):
    many_payments(primary)
    for sql in card_rule_queries(api):
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            (plan,) = cursor.fetchone()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        nodes = plan_nodes(plan[0]["Plan"])

        assert any("saved_method_id" in n.get("Index Cond", "") for n in nodes), nodes
        # Rows read and thrown away: none for a method with no charge.
        assert sum(n.get("Rows Removed by Filter", 0) for n in nodes) < 100, nodes
