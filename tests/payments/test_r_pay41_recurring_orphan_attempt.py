"""r-pay41: the recurring run's orphan sweep takes a payment with a
conditional touch, then fails it ``not_sent`` and gives its slot back. A
payment whose attempt was stored after the sweep listed it (its worker was
stopped between the claim and the attempt, then went on: the gateway is
being asked) is no orphan: failed and its slot charged again, the period
would be charged twice. The one-off sweep's touch re-checks for an attempt
(``_unsent_end``); the recurring one's did not."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F

from integrations.models.attempts import AttemptOutcome
from payments.models import Payment, PaymentAttempt, PaymentStatus
from payments.services import recurring as methods_recurring
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


class _Stopped(BaseException):
    """The worker stopped between its claim and its attempt (no handler)."""


def _old_claim(recurring, monkeypatch) -> Payment:
    """A claimed slot's pending payment, older than the sweep's wait."""

    def stopped(*args, **kwargs):
        raise _Stopped

    monkeypatch.setattr(methods_recurring, "saved_method_send", stopped)
    monkeypatch.setattr(methods_recurring, "_slot_release", stopped)
    with pytest.raises(_Stopped):
        recurring_charges_report()
    monkeypatch.undo()
    (payment,) = payments_of(recurring)
    gone = timedelta(minutes=settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 1)
    Payment.objects.filter(pk=payment.pk).update(
        created_at=F("created_at") - gone, updated_at=F("updated_at") - gone
    )
    return payment


def test_an_attempt_stored_after_the_sweep_listed_it_keeps_the_payment(
    primary, recurring, monkeypatch
):
    payment = _old_claim(recurring, monkeypatch)
    looked_up = methods_recurring.recurring_of

    def attempt_stored_meanwhile(row):
        # Its worker goes on: the attempt is committed, the gateway asked.
        if not PaymentAttempt.objects.filter(payment=payment).exists():
            PaymentAttempt.objects.create(
                payment=payment,
                account=primary,
                operation="authorize",
                idempotency_key="r-pay41-live",
                outcome=AttemptOutcome.IN_PROGRESS,
            )
        return looked_up(row)

    monkeypatch.setattr(methods_recurring, "recurring_of", attempt_stored_meanwhile)

    run = recurring_charges_report()

    payment.refresh_from_db()
    # Left to reconciliation, which asks the gateway; the slot not charged again.
    assert payment.status == PaymentStatus.PENDING
    assert payment.idempotency_key is not None
    assert (run.charged, charges(primary)) == (0, 0)
