"""revpay31: the recurring run reads the card's hard-decline rule itself.

A card declined for good (lost or stolen, closed, the issuer's "do not try
again", the cardholder's stop of recurring payments) by any of its charges
(a one-off, another recurring charge) must not be charged by an active
recurring charge on it at its next run: that charge would be declined again,
a retry card networks fine. The run stops it (failed: a resume or a move
decides, as after its own decline), sends nothing, names the decline on the
decline's timeline and in the log. An approval of a charge made after the
decline (the card mended) lets the run charge as before."""

import logging
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    SandboxCharge,
)
from payments.providers.base import DO_NOT_TRY_AGAIN, Decline
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from payments.services.recurring_manage import MethodDeclined, recurring_resume
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    saved_card_charge,
)

pytestmark = pytest.mark.django_db


def card(method, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=method.provider_method_id
    ).update(source_token=token)


def one_off(method, token: str) -> Payment:
    """A one-off charge of the saved card, the card answering as ``token``."""
    card(method, token)
    return saved_card_charge(method)


def approval(method) -> Payment:
    """An approval of the card made now (the card mended). Not a one-off
    charge of it: that is refused while the card is held (pay32)."""
    return Payment.objects.create(
        order_id=f"order-{uuid.uuid4().hex[:8]}",
        amount=700,
        currency="EUR",
        status=PaymentStatus.CAPTURED,
        amount_authorized=700,
        amount_captured=700,
        idempotency_key=f"oneoff-{uuid.uuid4().hex}",
        saved_method=method,
        account=method.account,
    )


def another_on(method) -> RecurringCharge:
    return RecurringCharge.objects.create(
        saved_method=method,
        amount=700,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )


def assert_stopped_unsent(recurring, decline, before: int, primary) -> None:
    assert charges(primary) == before  # nothing sent to the gateway
    assert payments_of(recurring) == []
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    note = decline.notes.get(kind="recurring_card_declined")
    assert recurring.public_id in note.title


def test_a_one_off_lost_card_stops_the_recurring_charge_unsent(
    primary, recurring, caplog
):
    method = recurring.saved_method
    lost = one_off(method, "tok_lost_card")
    assert lost.failure_code == "lost_or_stolen"
    before = charges(primary)

    with caplog.at_level(logging.WARNING, logger="payments.services"):
        report = recurring_charges_report()

    assert (report.charged, report.declined) == (0, 1)
    assert_stopped_unsent(recurring, lost, before, primary)
    ours = recurring.public_id
    (record,) = [r for r in caplog.records if getattr(r, "recurring_id", "") == ours]
    assert record.payment_id == lost.public_id
    assert record.failure_code == "lost_or_stolen"
    # A resume on that card is still refused; a move is the way on.
    with pytest.raises(MethodDeclined):
        recurring_resume(recurring=recurring)


def test_do_not_try_again_on_a_one_off_stops_the_recurring_charge(
    monkeypatch, primary, recurring
):
    def decline(self, request):
        raise Decline(
            "Your card was declined.",
            code="insufficient_funds",
            provider_code="51",
            advice_code=DO_NOT_TRY_AGAIN,
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
    advised = one_off(recurring.saved_method, "tok_success")
    monkeypatch.undo()
    assert advised.failure_advice_code == DO_NOT_TRY_AGAIN
    before = charges(primary)

    assert recurring_charges_report().declined == 1

    assert_stopped_unsent(recurring, advised, before, primary)


def test_another_recurring_charges_lost_card_stops_the_next_in_the_same_run(
    primary, recurring
):
    method = recurring.saved_method
    card(method, "tok_lost_card")
    later = another_on(method)
    RecurringCharge.objects.filter(pk=later.pk).update(
        next_run_at=recurring.next_run_at + timedelta(seconds=1)
    )

    report = recurring_charges_report()

    (declined,) = payments_of(recurring)
    assert declined.failure_code == "lost_or_stolen"
    assert report.declined == 2
    assert_stopped_unsent(later, declined, charges(primary), primary)


def test_a_one_off_stop_payment_is_mended_only_by_a_recurring_approval(
    primary, recurring
):
    method = recurring.saved_method
    stop = one_off(method, "tok_stop_payment")
    assert stop.failure_code == "stop_payment"
    # A one-off approval since says nothing of the cardholder's stop.
    card(method, "tok_success")
    approval(method)
    before = charges(primary)

    assert recurring_charges_report().declined == 1

    assert_stopped_unsent(recurring, stop, before, primary)


def test_an_approval_since_the_decline_lets_the_run_charge(primary, recurring):
    method = recurring.saved_method
    one_off(method, "tok_lost_card")
    # The card mended: a charge made after the decline was approved.
    card(method, "tok_success")
    approval(method)

    report = recurring_charges_report()

    assert (report.charged, report.declined) == (1, 0)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
