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
        order_id=f"order-{uuid.uuid4().hex[:8]}",
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
