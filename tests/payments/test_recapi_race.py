"""A pause or cancel through the API landing while the run charges the same
recurring charge, from another connection: the run never waits on the
charge's row at the gateway, never undoes the pause or cancel with its
record, and a resume never charges the period twice."""

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import (
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    SandboxCharge,
    SandboxChargeKind,
)
from payments.providers.sandbox import FAULTS, SandboxPaymentsAdapter
from payments.services import recurring as recurring_module
from payments.services.recurring import recurring_charges_report
from tests.factories import ApiKeyFactory
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db(transaction=True)


def _elsewhere(verb: str, recurring: RecurringCharge) -> int:
    """POST .../<verb>/ from another thread (its own connection); its status
    code. A run holding the charge's row would make it time out."""
    key = ApiKeyFactory(scopes=["payments:write"])
    answer: list[int] = []

    def call() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
        try:
            response = client.post(
                f"/api/v1/recurring-charges/{recurring.public_id}/{verb}/",
                HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
            )
            answer.append(response.status_code)
        finally:
            connections.close_all()

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the change waited on the run"
    return answer[0]


def _during_charge(monkeypatch, action: Callable[[], None]) -> None:
    real = SandboxPaymentsAdapter.charge_saved

    def charge_saved(self, request):
        action()
        return real(self, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", charge_saved)


@pytest.mark.parametrize(
    ("verb", "status"),
    [("pause", RecurringStatus.PAUSED), ("cancel", RecurringStatus.CANCELLED)],
)
def test_a_change_while_the_charge_is_at_the_gateway_stays(
    primary, recurring, monkeypatch, verb, status
):
    answers: list[int] = []
    _during_charge(monkeypatch, lambda: answers.append(_elsewhere(verb, recurring)))

    run = recurring_charges_report()

    assert answers == [200]
    assert run.charged == 1
    recurring.refresh_from_db()
    assert recurring.status == status  # the run's record kept it
    assert recurring.runs == 1
    assert recurring.last_payment == payments_of(recurring)[0]
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() - timedelta(minutes=1)
    )
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 1


def test_a_pause_before_the_claim_charges_nothing(primary, recurring, monkeypatch):
    real = recurring_module.adapter_for
    answers: list[int] = []

    def adapter_for(account):
        # Between the run's read of the due charges and its claim.
        answers.append(_elsewhere("pause", recurring))
        return real(account)

    monkeypatch.setattr(recurring_module, "adapter_for", adapter_for)
    due = recurring.next_run_at

    run = recurring_charges_report()

    assert answers == [200]
    assert (run.charged, run.errors) == (0, [])
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.PAUSED
    assert recurring.next_run_at == due  # the slot was not taken
    assert payments_of(recurring) == []
    assert charges(primary) == 0


def _declining(recurring: RecurringCharge) -> None:
    # The saved card declines from now on.
    SandboxCharge.objects.filter(
        kind=SandboxChargeKind.METHOD,
        reference=recurring.saved_method.provider_method_id,
    ).update(source_token="tok_decline")


def test_a_cancel_while_the_charge_is_declined_stays_cancelled(
    primary, recurring, monkeypatch
):
    _declining(recurring)
    answers: list[int] = []
    _during_charge(monkeypatch, lambda: answers.append(_elsewhere("cancel", recurring)))

    run = recurring_charges_report()

    assert (answers, run.declined) == ([200], 1)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.CANCELLED  # not "failed"
    (payment,) = payments_of(recurring)
    assert payment.status == PaymentStatus.FAILED


def test_a_pause_while_declined_then_resume_stops_before_charging(
    primary, recurring, monkeypatch
):
    _declining(recurring)
    answers: list[int] = []
    _during_charge(monkeypatch, lambda: answers.append(_elsewhere("pause", recurring)))

    recurring_charges_report()

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.PAUSED
    monkeypatch.undo()
    assert _elsewhere("resume", recurring) == 200
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() - timedelta(minutes=1)
    )

    run = recurring_charges_report()

    assert (run.charged, run.declined) == (0, 1)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert len(payments_of(recurring)) == 1


def test_a_slot_given_back_after_a_resume_is_charged_once(
    primary, recurring, monkeypatch
):
    """The gateway unreachable (nothing charged) while the charge is paused
    and resumed: its slot is given back and charged once by the next run."""
    slot = recurring.next_run_at

    def charge_saved(self, request):
        assert _elsewhere("pause", recurring) == 200
        assert _elsewhere("resume", recurring) == 200
        raise FAULTS["tok_unavailable"]()

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", charge_saved)
    first = recurring_charges_report()
    monkeypatch.undo()

    assert (first.charged, first.retry) == (0, 1)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.next_run_at == slot  # given back, not skipped
    assert recurring_charges_report().charged == 1
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 1
