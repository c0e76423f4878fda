"""A saved-method charge whose process died between its payment row and its
attempt (SIGKILL, the worker's timeout) left a ``pending`` payment no
gateway was asked about, holding its idempotency key: nothing would ever
send or end it. The reconciliation sweep ends it (failed ``not_sent``, key
freed), so the caller's retry with the same key charges."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from payments import services
from payments.models import Payment, PaymentStatus, RecurringCharge
from payments.services import methods

pytestmark = pytest.mark.django_db


class Killed(BaseException):
    """The worker killed right after the payment row was committed."""


def _later() -> timezone.datetime:
    minutes = settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 1
    return timezone.now() + timedelta(minutes=minutes)


def _charge(method, key: str = "charge-1") -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        order_id="order-7",
        idempotency_key=key,
    )


def _killed_charge(method, monkeypatch) -> Payment:
    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(methods, "saved_method_send", killed)
    with pytest.raises(Killed):
        _charge(method)
    monkeypatch.undo()
    payment = Payment.objects.get(order_id="order-7")
    assert payment.status == PaymentStatus.PENDING
    assert payment.account is None and not payment.attempts.exists()
    return payment


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )


def test_a_charge_killed_before_its_attempt_is_ended_by_the_sweep(method, monkeypatch):
    payment = _killed_charge(method, monkeypatch)
    # Its key answers the stuck payment: the caller cannot charge again.
    assert _charge(method).pk == payment.pk

    services.payments_reconcile_pending()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING  # too young: maybe in flight

    services.payments_reconcile_pending(now=_later())

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "not_sent")
    assert payment.idempotency_key is None
    assert payment.amount_captured == 0
    again = _charge(method)
    assert again.pk != payment.pk
    assert (again.status, again.amount_captured) == ("captured", 1_500)


def test_the_sweep_reports_the_payment_it_ended(method, monkeypatch):
    payment = _killed_charge(method, monkeypatch)

    settled = services.payments_reconcile_pending(now=_later())

    assert [p.pk for p in settled] == [payment.pk]
    assert settled[0].status == PaymentStatus.FAILED


def test_a_payment_with_an_attempt_is_reconciled_not_ended_unsent(method, monkeypatch):
    # The gateway may hold a charge once the attempt is stored: that one is
    # asked (here the sandbox has nothing), never failed as unsent.
    def broken(self, request):
        raise RuntimeError("bug after the attempt was stored")

    from payments.providers.sandbox import SandboxPaymentsAdapter

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", broken)
    with pytest.raises(RuntimeError):
        _charge(method)
    monkeypatch.undo()
    payment = Payment.objects.get(order_id="order-7")
    assert payment.status == PaymentStatus.UNKNOWN

    services.payments_reconcile_pending(now=_later())

    payment.refresh_from_db()
    assert payment.failure_code != "not_sent"


def test_a_recurring_slots_orphan_is_left_to_the_recurring_run(method):
    # The recurring run releases its own orphans and gives their slot back;
    # the sweep ending one first would lose the slot's period.
    recurring = RecurringCharge.objects.create(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    slot = recurring.next_run_at
    orphan = Payment.objects.create(
        order_id="r-1",
        amount=1_500,
        currency="EUR",
        capture_requested=True,
        metadata={"recurring_charge": recurring.public_id},
        idempotency_key=f"recurring:{recurring.public_id}:{slot.isoformat()}",
    )

    services.payments_reconcile_pending(now=_later())

    orphan.refresh_from_db()
    assert orphan.status == PaymentStatus.PENDING
