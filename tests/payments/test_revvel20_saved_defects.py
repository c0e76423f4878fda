"""Defects found reviewing vel20's screened saved-method charges: a bad
amount answered as a missing payment (the screened INSERT reads any
IntegrityError as a repeated key), and a high-risk charge whose process dies
after its screening's commit ended as 'not sent' instead of blocked."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import Payment, PaymentStatus, SandboxCharge
from payments.services import methods

pytestmark = pytest.mark.django_db

CUSTOMER = "cus_revvel20"


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_success", idempotency_key="m1"
    )


def charge(method, *, amount: int = 1_000, key: str = "") -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=amount,
        currency="EUR",
        # A key's retry is for its own order (another is refused).
        order_id=f"order-{key or uuid.uuid4().hex[:8]}",
        idempotency_key=key or uuid.uuid4().hex,
    )


@pytest.mark.parametrize("amount", [0, -500, 10**15, 12.5])
def test_a_bad_amount_is_refused_with_a_readable_error(method, amount):
    with pytest.raises(ValueError, match="amount"):
        charge(method, amount=amount)
    assert Payment.objects.count() == 0
    assert SandboxCharge.objects.filter(kind="payment").count() == 0


class Killed(BaseException):
    """The process dies (SIGKILL, a worker's time-out) at this point."""


def test_a_high_risk_charge_killed_after_its_screening_is_never_ended_unsent(
    method, settings, monkeypatch
):
    """The block is the screening's verdict: a kill right after it must not
    leave a pending payment that the unsent sweep fails as 'not sent,
    nothing was charged' with its key freed (the block forgotten)."""
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 500}
    settings.FRAUD_RULE_SCORES = {
        **settings.FRAUD_RULE_SCORES,
        "amount_over_threshold": 100,
    }
    real_block = methods.payment_block

    def killed(payment):  # type: ignore[no-untyped-def]
        raise Killed

    monkeypatch.setattr(methods, "payment_block", killed)
    with pytest.raises(Killed):
        charge(method, key="k1")
    monkeypatch.setattr(methods, "payment_block", real_block)
    later = timezone.now() + timedelta(days=1)
    services.payments_reconcile_pending(now=later)
    assert not Payment.objects.exclude(status=PaymentStatus.BLOCKED).exists()
    # The caller's retry with the same key is blocked, charging nothing.
    again = charge(method, key="k1")
    assert again.status == PaymentStatus.BLOCKED
    assert again.failure_code == "payment_blocked"
    assert SandboxCharge.objects.filter(kind="payment").count() == 0


def test_a_charge_killed_before_its_gateway_call_is_ended_then_charged_once(
    method, monkeypatch
):
    monkeypatch.setattr(methods, "saved_method_send", _killed)
    with pytest.raises(Killed):
        charge(method, key="k2")
    monkeypatch.undo()
    # Until the sweep the key answers with the pending payment: no charge.
    assert charge(method, key="k2").status == PaymentStatus.PENDING
    services.payments_reconcile_pending(now=timezone.now() + timedelta(days=1))
    dead = Payment.objects.get()
    assert (dead.status, dead.failure_code) == ("failed", "not_sent")
    again = charge(method, key="k2")
    assert again.pk != dead.pk and again.status == PaymentStatus.CAPTURED
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


@pytest.mark.parametrize("held", [False, True], ids=["plain", "fraud-held"])
def test_a_charge_killed_at_its_gateway_is_reconciled_never_charged_twice(
    method, monkeypatch, settings, held
):
    """Killed after the gateway charged, before its answer was stored:
    reconciliation books the charge (a held one authorized only, still
    waiting for staff) and a retry of the key charges nothing more."""
    if held:
        settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 500}
    from payments.providers.sandbox import SandboxPaymentsAdapter

    real = SandboxPaymentsAdapter.charge_saved

    def charged_then_killed(self, request):  # type: ignore[no-untyped-def]
        real(self, request)
        raise Killed

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", charged_then_killed)
    # A dead process runs no clean-up.
    monkeypatch.setattr(methods, "_send_stopped", lambda *args: None)
    with pytest.raises(Killed):
        charge(method, key="k3")
    monkeypatch.undo()
    services.payments_reconcile_pending(now=timezone.now() + timedelta(days=1))
    payment = Payment.objects.get()
    assert payment.status == ("authorized" if held else "captured")
    assert payment.amount_captured == (0 if held else 1_000)
    assert payment.review_state == ("pending" if held else "none")
    assert charge(method, key="k3").pk == payment.pk
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def _killed(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise Killed
