"""reconcile_payments and run_recurring_charges, on the sandbox gateway."""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, base, call_command
from django.utils import timezone

from integrations.models import ProviderAccount
from payments import tasks
from payments.management.commands.reconcile_payments import Command
from payments.models import Payment, PaymentStatus, RecurringCharge
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import payment_create, payment_method_save

pytestmark = pytest.mark.django_db


def pay(token: str, *, amount: int = 4_200, capture: bool = True) -> Payment:
    return payment_create(
        order_id=f"order-{token}",
        amount=amount,
        currency="EUR",
        source_token=token,
        capture=capture,
        idempotency_key=uuid.uuid4().hex,
    )


def run(name: str) -> list[str]:
    out = StringIO()
    call_command(name, stdout=out)
    return out.getvalue().splitlines()


def test_reconcile_prints_each_settled_payment_and_a_summary(primary):
    lost = pay("tok_timeout")
    fine = pay("tok_success")
    assert (lost.status, fine.status) == ("unknown", "captured")
    lines = run("reconcile_payments")
    assert lines == [
        f"{lost.public_id} order order-tok_timeout: captured (€42.00)",
        "Settled 1 payment(s).",
    ]
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    # Nothing left open: a second run settles nothing.
    assert run("reconcile_payments") == ["Settled 0 payment(s)."]


def test_a_payment_the_gateway_never_saw_is_settled_as_failed(primary):
    lost = pay("tok_server_error")  # 500 before anything was made
    assert lost.status == PaymentStatus.UNKNOWN
    lines = run("reconcile_payments")
    assert lines[0] == f"{lost.public_id} order order-tok_server_error: failed (€42.00)"


def test_an_unreachable_gateway_leaves_the_payment_for_the_next_run(primary, settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    lost = pay("tok_timeout")
    primary.settings = {"outage": True}
    primary.save()
    assert run("reconcile_payments") == ["Settled 0 payment(s)."]
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.UNKNOWN


def test_a_hard_failure_exits_non_zero_with_one_line(primary):
    lost = pay("tok_timeout")
    # An account whose provider is no longer configured cannot be asked.
    ProviderAccount.objects.filter(pk=primary.pk).update(provider="gone")
    with pytest.raises(CommandError) as info:
        call_command("reconcile_payments", stdout=StringIO())
    message = str(info.value)
    assert message.startswith("reconciliation stopped: ")
    assert "\n" not in message
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.UNKNOWN


def test_a_hard_failure_exit_status_from_the_command_line(primary, capsys, monkeypatch):
    pay("tok_timeout")
    ProviderAccount.objects.filter(pk=primary.pk).update(provider="gone")
    # run_from_argv closes every connection when done; the test's own
    # transaction must survive it.
    monkeypatch.setattr(base.connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as info:
        Command().run_from_argv(["manage.py", "reconcile_payments"])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("CommandError: reconciliation stopped: UnknownProvider")


def test_run_recurring_charges_prints_the_count(primary):
    method = payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    now = timezone.now()
    due = RecurringCharge.objects.create(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        interval="month",
        next_run_at=now - timedelta(minutes=1),
    )
    RecurringCharge.objects.create(
        saved_method=method,
        amount=2_500,
        currency="EUR",
        interval="month",
        next_run_at=now + timedelta(days=1),
    )
    assert run("run_recurring_charges") == ["Charged 1 recurring charge(s)."]
    due.refresh_from_db()
    assert due.last_payment.status == PaymentStatus.CAPTURED
    assert due.last_payment.amount == 1_500
    assert run("run_recurring_charges") == ["Charged 0 recurring charge(s)."]


def _monthly(method, amount: int = 1_500) -> RecurringCharge:
    return RecurringCharge.objects.create(
        saved_method=method,
        amount=amount,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )


def _charges_of(recurring: RecurringCharge) -> list[tuple[str, int]]:
    return list(
        Payment.objects.filter(metadata__recurring_charge=recurring.public_id)
        .order_by("pk")
        .values_list("status", "amount_captured")
    )


def test_a_recurring_run_stopped_by_our_fault_gives_the_slot_back(primary, capsys):
    method = payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    recurring = _monthly(method)
    other = _monthly(
        payment_method_save(
            customer_reference="cus_2", source_token="tok_success", idempotency_key="m2"
        ),
        amount=700,
    )
    # A deploy drops the adapter's registration for a while: one line and a
    # non-zero exit, the other customer's charge is still made.
    ProviderAccount.objects.filter(pk=method.account_id).update(provider="gone")
    with pytest.raises(CommandError, match="not run, their slot given back"):
        call_command("run_recurring_charges", stdout=StringIO())
    assert _charges_of(other) == []  # same account: it could not be called
    ProviderAccount.objects.filter(pk=method.account_id).update(provider="sandbox")

    assert run("run_recurring_charges") == ["Charged 2 recurring charge(s)."]
    recurring.refresh_from_db()
    assert recurring.runs == 1 and recurring.next_run_at > timezone.now()
    assert _charges_of(recurring) == [("captured", 1_500)]
    assert run("run_recurring_charges") == ["Charged 0 recurring charge(s)."]


def test_a_recurring_payment_a_dead_run_left_pending_is_charged_once(primary):
    method = payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    recurring = _monthly(method)
    RecurringCharge.objects.filter(pk=recurring.pk).update(interval="day")
    slot = recurring.next_run_at
    # What a run killed right after claiming the slot (with its payment) left.
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=slot + timedelta(days=1)
    )
    orphan = Payment.objects.create(
        order_id="o",
        amount=1_500,
        currency="EUR",
        metadata={"recurring_charge": recurring.public_id},
        idempotency_key=f"recurring:{recurring.public_id}:{slot.isoformat()}",
    )
    assert orphan.status == PaymentStatus.PENDING
    assert run("run_recurring_charges") == ["Charged 0 recurring charge(s)."]
    Payment.objects.filter(pk=orphan.pk).update(
        # Both stamps: the sweeps age it by its created_at (pay41).
        created_at=timezone.now() - timedelta(hours=1),
        updated_at=timezone.now() - timedelta(hours=1),
    )

    assert run("run_recurring_charges") == ["Charged 1 recurring charge(s)."]
    orphan.refresh_from_db()
    assert (orphan.status, orphan.failure_code) == ("failed", "not_sent")
    assert _charges_of(recurring) == [("failed", 0), ("captured", 1_500)]
    assert run("run_recurring_charges") == ["Charged 0 recurring charge(s)."]


def test_a_recurring_charge_whose_outcome_is_unknown_is_not_counted_charged(
    primary,
):
    method = payment_method_save(
        customer_reference="cus_1", source_token="tok_timeout", idempotency_key="m1"
    )
    _monthly(method)
    assert run("run_recurring_charges") == [
        "Charged 0 recurring charge(s); 1 unknown, being reconciled."
    ]


def test_a_slot_given_back_after_our_fault_is_charged_not_declined(
    primary, monkeypatch
):
    method = payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    recurring = _monthly(method)

    def broken(self, request):  # a bug of ours, after the attempt is stored
        raise RuntimeError("bug in our request code")

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", broken)
    with pytest.raises(CommandError, match="slot given back"):
        call_command("run_recurring_charges", stdout=StringIO())
    [payment] = Payment.objects.filter(metadata__recurring_charge=recurring.public_id)
    monkeypatch.undo()
    # Reconciliation asks the gateway: it has nothing (the call never left).
    Payment.objects.filter(pk=payment.pk).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    assert tasks.reconcile_payment(payment.pk) == "failed"
    out = StringIO()
    call_command("run_recurring_charges", stdout=out)
    recurring.refresh_from_db()
    assert "declined" not in out.getvalue(), out.getvalue()
    # The promise: "not charged and its slot is given back" (the next run
    # charges it). Not: the subscription stopped as declined.
    assert recurring.status == "active"
    assert ("captured", 1_500) in _charges_of(recurring)
