"""Same-key saved-method charges at once, on PostgreSQL: one payment, one
gateway call, with or without the velocity lock; and a charge waiting on a
slow gateway holds nothing another customer's screening or a repeat of its
own key waits for."""

import contextlib
import threading
import time

import pytest
from django.db import connection

from payments import fraud, services
from payments.models import Payment, PaymentStatus, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.pg import on_a_lock_wait

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent charges need PostgreSQL")


def saved(customer: str, key: str):  # type: ignore[no-untyped-def]
    return services.payment_method_save(
        customer_reference=customer, source_token="tok_success", idempotency_key=key
    )


def charge(method, key: str) -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        order_id="order-same",
        idempotency_key=key,
    )


def on_threads(calls) -> list[object]:  # type: ignore[no-untyped-def]
    results: list[object] = []

    def run(call) -> None:  # type: ignore[no-untyped-def]
        try:
            results.append(call())
        except Exception as exc:  # reported by the assertions
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    return threads, results


@pytest.mark.parametrize("cap", [5, 0], ids=["velocity-lock", "no-lock"])
def test_same_key_charges_at_once_make_one_payment_and_one_call(
    primary, monkeypatch, settings, cap
):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = cap
    method = saved("cus_same", "m1")
    barrier = threading.Barrier(3, timeout=5)
    real_screen = fraud.payment_screen

    def screened_together(**kwargs):  # type: ignore[no-untyped-def]
        screening = real_screen(**kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return screening

    monkeypatch.setattr(fraud, "payment_screen", screened_together)
    with on_a_lock_wait(barrier.abort):
        threads, results = on_threads([lambda: charge(method, "k-same")] * 3)
        for thread in threads:
            thread.join(30)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.pk for r in results}) == 1
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.filter(kind="payment").count() == 1
    assert Payment.objects.get().status == PaymentStatus.CAPTURED


def test_a_slow_gateway_holds_no_other_screening(primary, settings):
    """While one charge waits on its gateway, a repeat of its key answers
    with the pending payment and another customer's charge is screened,
    stored and charged: nothing waits for the slow call."""
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    first, other = saved("cus_slow", "m1"), saved("cus_other", "m2")
    at_gateway, answer = threading.Event(), threading.Event()
    real = SandboxPaymentsAdapter.charge_saved

    def slow(self, request):  # type: ignore[no-untyped-def]
        if request.customer_reference == "cus_slow":
            at_gateway.set()
            answer.wait(20)
        return real(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SandboxPaymentsAdapter, "charge_saved", slow)
        threads, results = on_threads([lambda: charge(first, "k-slow")])
        try:
            assert at_gateway.wait(10)
            started = time.monotonic()
            repeat = charge(first, "k-slow")
            elsewhere = charge(other, "k-other")
            took = time.monotonic() - started
        finally:
            answer.set()
            threads[0].join(30)
    assert took < 5
    assert repeat.status == PaymentStatus.PENDING
    assert elsewhere.status == PaymentStatus.CAPTURED
    assert elsewhere.risk_reasons == []
    assert [r.status for r in results] == [PaymentStatus.CAPTURED]
    assert SandboxCharge.objects.filter(kind="payment").count() == 2
