"""A recurring charge whose period's try was found declined while it was
paused (``recurring_paused_decline``): that period is unpaid. Moved to a
new card and resumed before its next date, the period the resume begins is
charged to the new card at once; resumed on the same card, it is stopped at
once. Keeping the next date served the rest of the declined period free."""

import pytest

from payments import services
from payments.models import PaymentStatus, RecurringStatus, SavedPaymentMethod
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from payments.services.recurring_manage import (
    recurring_method_change,
    recurring_pause,
    recurring_resume,
)
from tests.payments.recurring_setup import (
    declined_lookup,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    unknown_run,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def declined_while_paused(primary, recurring, monkeypatch):
    open_try = unknown_run(primary, recurring)
    recurring_pause(recurring=recurring)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)
    services.payments_reconcile_pending()
    monkeypatch.undo()
    open_try.refresh_from_db()
    assert open_try.status == PaymentStatus.FAILED
    assert open_try.notes.filter(kind="recurring_paused_decline").exists()
    return open_try


@pytest.fixture
def new(recurring) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )


def test_moved_and_resumed_is_charged_on_the_new_card_at_once(
    recurring, declined_while_paused, new
):
    recurring_method_change(recurring=recurring, method_id=new.public_id)
    recurring_resume(recurring=recurring)

    report = recurring_charges_report()

    assert (report.charged, report.declined) == (1, 0)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert payments_of(recurring)[-1].status == PaymentStatus.CAPTURED


def test_resumed_on_the_same_card_is_stopped_at_once(recurring, declined_while_paused):
    recurring_resume(recurring=recurring)

    report = recurring_charges_report()

    assert (report.charged, report.declined) == (0, 1)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == declined_while_paused.pk
