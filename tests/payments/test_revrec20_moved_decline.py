"""A recurring charge moved to a new card while a try on its old card was
still open: that try's decline, found later by reconciliation, is the old
card's. It no longer stops the charge (the new card was never tried); its
period is unpaid, so the charge restarts now on the new card, as a move of
a charge already stopped by that decline would have. And a move landing
while a run is on its way to the old card is not overtaken by it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringStatus,
    SandboxCharge,
    SavedPaymentMethod,
)
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import recurring as recurring_module
from payments.services.recurring import recurring_charges_report
from payments.services.recurring_manage import (
    recurring_method_change,
    recurring_pause,
    recurring_resume,
)
from tests.payments.recurring_setup import (
    charges,
    declined_lookup,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    unknown_run,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def new(recurring) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )


def _declined_after_the_move(
    recurring, new, monkeypatch, *, pause: bool = False
) -> Payment:
    """The slot's try on the old card got no answer; the customer moved the
    charge to ``new`` (paused it first, if ``pause``); reconciliation then
    finds the old card declined."""
    open_try = unknown_run(recurring.saved_method.account, recurring)
    if pause:
        recurring_pause(recurring=recurring)
    recurring_method_change(recurring=recurring, method_id=new.public_id)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)
    services.payments_reconcile_pending()
    monkeypatch.undo()
    open_try.refresh_from_db()
    assert open_try.status == PaymentStatus.FAILED
    return open_try


def test_an_old_cards_decline_does_not_stop_the_moved_charge(
    primary, recurring, new, monkeypatch
):
    before = timezone.now()

    open_try = _declined_after_the_move(recurring, new, monkeypatch)

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.saved_method_id == new.pk
    # Its period unpaid: the period restarting now is charged to the new card.
    assert before <= recurring.next_run_at <= timezone.now()
    assert open_try.notes.filter(kind="recurring_slot_declined").exists()
    assert recurring_charges_report().charged == 1
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 1


def test_a_paused_charge_moved_then_resumed_is_not_stopped_by_the_old_decline(
    primary, recurring, new, monkeypatch
):
    open_try = _declined_after_the_move(recurring, new, monkeypatch, pause=True)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.PAUSED

    recurring_resume(recurring=recurring)

    report = recurring_charges_report()
    assert (report.declined, report.charged) == (0, 1)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert open_try.notes.filter(kind="recurring_slot_declined").exists()


def test_a_decline_on_the_card_it_is_on_still_stops_it(primary, recurring, monkeypatch):
    open_try = unknown_run(primary, recurring)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)

    services.payments_reconcile_pending()

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == open_try.pk


def test_a_move_during_a_run_is_not_overtaken_by_a_charge_to_the_old_card(
    primary, recurring, new, monkeypatch
):
    # The old card declines; the new one works.
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_decline")
    real_adapter_for = recurring_module.adapter_for
    moved = []

    def move_meanwhile(account):
        # The customer's move commits after the run read the charge.
        if not moved:
            moved.append(
                recurring_method_change(recurring=recurring, method_id=new.public_id)
            )
        return real_adapter_for(account)

    monkeypatch.setattr(recurring_module, "adapter_for", move_meanwhile)

    first = recurring_charges_report()
    monkeypatch.undo()
    second = recurring_charges_report()

    assert first.declined + second.declined == 0
    assert first.charged + second.charged == 1
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert [p.status for p in payments_of(recurring)] == [PaymentStatus.CAPTURED]
    assert recurring.next_run_at > timezone.now() + timedelta(days=27)
