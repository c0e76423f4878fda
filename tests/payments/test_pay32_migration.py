"""pay32's migration 0020: the card rule's two partial indexes (a card's
final declines; its approvals by creation) are built without rewriting the
payments table (CONCURRENTLY on PostgreSQL), cover the rows stored before,
and go again when migrated back. Historical models only. Needs
``--migrations``."""

import pytest
from django.core.management import call_command
from django.db import connection

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0019_payment_created_at_database_clock"
AFTER = "0020_payment_card_rule_indexes"
NAMES = {"payment_card_final_decline", "payment_card_approval"}


def _indexes() -> dict[str, bool]:
    """The payments table's indexes by name: whether each is usable."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "payments_payment")
        names = {name: True for name, info in found.items() if info["index"]}
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
                "ON c.oid = i.indexrelid "
                "WHERE i.indrelid = 'payments_payment'::regclass"
            )
            names.update(dict(cursor.fetchall()))
    return names


def _table_file() -> object:
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            return None
        cursor.execute(
            "SELECT relfilenode FROM pg_class WHERE relname = 'payments_payment'"
        )
        return cursor.fetchone()[0]


def _card_with_history(apps):
    """A saved card (historical models) with an approval, then a decline of
    it as lost, and a charge of a plain token."""
    account = apps.get_model("integrations", "ProviderAccount").objects.create(
        kind="payments",
        provider="sandbox",
        slug="sbx-pay32",
        display_name="Sbx pay32",
        priority=1,
    )
    card = apps.get_model("payments", "SavedPaymentMethod").objects.create(
        public_id="pm_pay32",
        customer_reference="cus-1",
        account=account,
        provider_customer_id="cus_sbx",
        provider_method_id="pm_sbx_pay32",
    )
    payment = apps.get_model("payments", "Payment").objects
    common = {"order_id": "o-1", "customer_reference": "cus-1", "currency": "EUR"}
    payment.create(
        **common,
        public_id="pay_pay32_ok",
        amount=500,
        status="captured",
        amount_authorized=500,
        amount_captured=500,
        saved_method=card,
    )
    lost = payment.create(
        **common,
        public_id="pay_pay32_lost",
        amount=500,
        status="failed",
        failure_code="lost_or_stolen",
        saved_method=card,
    )
    payment.create(**common, public_id="pay_pay32_token", amount=500)
    return card, lost


def _read_by(index: str, sql: str, params: list) -> list[tuple]:
    """``sql``'s rows, after checking its plan reads ``index`` (sequential
    scans off: the table is tiny here)."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        finally:
            cursor.execute("RESET enable_seqscan")
    assert index in plan, plan
    return rows


def test_0020_builds_the_card_rule_indexes_without_rewriting_the_table(request):
    with migrated_back(request, "payments", BEFORE):
        assert not NAMES & set(_indexes())
        before = _table_file()
        card, lost = _card_with_history(historical_apps("payments", BEFORE))

    found = _indexes()
    assert all(found.get(name) is True for name in NAMES), found
    assert _table_file() == before  # not rewritten
    if connection.vendor != "postgresql":
        return
    declines = _read_by(
        "payment_card_final_decline",
        "SELECT id FROM payments_payment WHERE saved_method_id = %s "
        "AND failure_code IN ('lost_or_stolen')",
        [card.pk],
    )
    assert declines == [(lost.pk,)]
    approvals = _read_by(
        "payment_card_approval",
        "SELECT public_id FROM payments_payment WHERE saved_method_id = %s "
        "AND status IN ('authorized', 'captured', 'partially_refunded', "
        "'refunded') AND created_at > now() - interval '1 day'",
        [card.pk],
    )
    assert approvals == [("pay_pay32_ok",)]
    apps = historical_apps("payments", AFTER)
    assert apps.get_model("payments", "Payment").objects.count() == 3


def test_0020_goes_back_and_again(request):
    with migrated_back(request, "payments", BEFORE):
        assert not NAMES & set(_indexes())
        call_command("migrate", "payments", AFTER, verbosity=0)
        assert all(_indexes().get(name) is True for name in NAMES)
        call_command("migrate", "payments", BEFORE, verbosity=0)
        assert not NAMES & set(_indexes())
    assert all(_indexes().get(name) is True for name in NAMES)
