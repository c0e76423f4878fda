"""pay33's migration 0021: the partial index of a card's declines that came
with a network's retry wait (``slots.advised_until``, read before every
one-off charge of the card) is built without rewriting the payments table,
covers the rows stored before, and goes again when migrated back. Needs
``--migrations``."""

import pytest
from django.core.management import call_command
from django.db import connection

from tests.migration_state import historical_apps, migrated_back
from tests.payments.test_pay32_migration import _indexes, _read_by, _table_file

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0020_payment_card_rule_indexes"
AFTER = "0021_payment_card_retry_advice_index"
NAME = "payment_card_retry_advice"


def _advised_card(apps):
    """A saved card (historical models) with a decline that advised a wait,
    and one that advised nothing."""
    account = apps.get_model("integrations", "ProviderAccount").objects.create(
        kind="payments",
        provider="sandbox",
        slug="sbx-pay33",
        display_name="Sbx pay33",
        priority=1,
    )
    card = apps.get_model("payments", "SavedPaymentMethod").objects.create(
        public_id="pm_pay33",
        customer_reference="cus-1",
        account=account,
        provider_customer_id="cus_sbx",
        provider_method_id="pm_sbx_pay33",
    )
    payment = apps.get_model("payments", "Payment").objects
    common = {
        "order_id": "o-1",
        "customer_reference": "cus-1",
        "currency": "EUR",
        "amount": 500,
        "status": "failed",
        "failure_code": "insufficient_funds",
        "saved_method": card,
    }
    advised = payment.create(
        **common, public_id="pay_pay33_wait", failure_advice_code="retry_after_2_days"
    )
    payment.create(**common, public_id="pay_pay33_plain")
    return card, advised


def test_0021_builds_the_wait_index_without_rewriting_the_table(request):
    with migrated_back(request, "payments", BEFORE):
        assert NAME not in _indexes()
        before = _table_file()
        card, advised = _advised_card(historical_apps("payments", BEFORE))

    assert _indexes().get(NAME) is True
    assert _table_file() == before  # not rewritten
    if connection.vendor != "postgresql":
        return
    # In the code's order (RETRY_AFTER's), not the index's: still implied.
    waits = _read_by(
        NAME,
        "SELECT id FROM payments_payment WHERE saved_method_id = %s "
        "AND failure_advice_code IN ('retry_after_1_hour', 'retry_after_2_days')",
        [card.pk],
    )
    assert waits == [(advised.pk,)]


def test_0021_goes_back_and_again(request):
    with migrated_back(request, "payments", BEFORE):
        assert NAME not in _indexes()
        call_command("migrate", "payments", AFTER, verbosity=0)
        assert _indexes().get(NAME) is True
        call_command("migrate", "payments", BEFORE, verbosity=0)
        assert NAME not in _indexes()
    assert _indexes().get(NAME) is True
