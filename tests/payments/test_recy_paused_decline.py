"""A decline of a period's charge learnt while its recurring charge is
paused is noted on the declined payment's timeline, and unpausing does not
lose it: the first run after stops the recurring charge (the method is
declined) before charging anything."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import (
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    SandboxCharge,
)
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    declined_lookup,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    unknown_run,
)

pytestmark = pytest.mark.django_db


def test_a_decline_while_paused_is_noted_and_stops_it_once_unpaused(
    primary, recurring, monkeypatch
):
    lost = unknown_run(primary, recurring)
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.PAUSED
    )
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)

    services.payments_reconcile_pending()

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED
    assert lost.notes.filter(kind="recurring_paused_decline").exists()
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.PAUSED  # the pause is kept
    before = charges(primary)

    # Unpaused, and its next period due.
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.ACTIVE,
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    run = recurring_charges_report()

    assert (run.charged, run.declined) == (0, 1)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == lost.pk
    assert payments_of(recurring) == [lost]
    assert charges(primary) == before


def test_a_decline_at_a_run_paused_meanwhile_is_kept_for_the_unpause(
    primary, recurring, monkeypatch
):
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_decline")
    charge_saved = SandboxPaymentsAdapter.charge_saved

    def paused_meanwhile(self, request):
        # Paused after the run claimed the slot, before the gateway answered.
        RecurringCharge.objects.filter(pk=recurring.pk).update(
            status=RecurringStatus.PAUSED
        )
        return charge_saved(self, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", paused_meanwhile)
    assert recurring_charges_report().declined == 1
    monkeypatch.undo()
    (declined,) = payments_of(recurring)
    assert declined.notes.filter(kind="recurring_paused_decline").exists()
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.PAUSED

    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.ACTIVE,
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    assert recurring_charges_report().declined == 1

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert payments_of(recurring) == [declined]
    assert declined.notes.filter(kind="recurring_unpaused").exists()
