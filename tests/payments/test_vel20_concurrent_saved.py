"""Fraud velocity on PostgreSQL across charge paths: concurrent saved-method
charges of one customer (and a mix with API payments) are screened in turn,
each counting those screened before it."""

import contextlib
import threading
import uuid
from collections.abc import Callable

import pytest
from django.db import connection

from payments import fraud, services
from payments.models import Payment, PaymentStatus
from tests.pg import on_a_lock_wait

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

URL = "/api/v1/payments/"
CUSTOMER = "cus_vel20"


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent charges need PostgreSQL")


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_success", idempotency_key="m1"
    )


def run_together(monkeypatch, calls: list[Callable[[], object]]) -> list[object]:
    """Each call on its own thread; every one waits after its screening until
    all have screened, unless one waits on a lock (then they go on: screened
    in turn). What each returned (or raised)."""
    barrier = threading.Barrier(len(calls), timeout=5)
    real_screen = fraud.payment_screen

    def screened_together(**kwargs):  # type: ignore[no-untyped-def]
        screening = real_screen(**kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return screening

    monkeypatch.setattr(fraud, "payment_screen", screened_together)
    results: list[object] = []

    def run(call: Callable[[], object]) -> None:
        try:
            results.append(call())
        except Exception as exc:  # reported by the assertions
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    with on_a_lock_wait(barrier.abort):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def saved_charge(method) -> Callable[[], object]:
    def charge() -> str:
        payment = services.saved_method_charge(
            saved_method=method,
            amount=1_000,
            currency="EUR",
            order_id=f"order-{uuid.uuid4().hex[:8]}",
            idempotency_key=uuid.uuid4().hex,
        )
        return payment.status

    return charge


def api_create(api, **screened: str) -> Callable[[], object]:
    def post() -> int:
        body = {
            "order_id": f"order-{uuid.uuid4().hex[:8]}",
            "amount": 1_000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": True,
            **screened,
        }
        key = uuid.uuid4().hex
        return api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key).status_code

    return post


def flagged(rule: str) -> int:
    return sum(rule in p.risk_reasons for p in Payment.objects.all())


def test_concurrent_saved_method_charges_are_screened_in_turn(
    method, monkeypatch, settings
):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 2
    results = run_together(monkeypatch, [saved_charge(method) for _ in range(4)])
    assert len(results) == 4, results
    # Two captured within the cap; the other two each counted those before
    # them: held for review (authorized only), none an error.
    assert sorted(map(str, results)) == ["authorized"] * 2 + ["captured"] * 2, results
    assert flagged("velocity_customer") == 2


def test_saved_and_api_charges_together_share_the_cap(
    api, method, monkeypatch, settings
):
    """A customer spreading card testing over both paths at once: the same
    lock per value, taken in one order, so each counts the others and none
    deadlocks (an e-mail and IP on the API's side give it more locks)."""
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 2
    settings.FRAUD_VELOCITY_MAX_PER_EMAIL = 2
    settings.FRAUD_VELOCITY_MAX_PER_IP = 2
    screened = {
        "customer_reference": CUSTOMER,
        "customer_email": "buyer@example.com",
        "ip_address": "198.51.100.7",
    }
    calls = [saved_charge(method), api_create(api, **screened)] * 3
    results = run_together(monkeypatch, calls)
    assert len(results) == 6, results
    assert not [r for r in results if isinstance(r, Exception)], results
    assert set(results) <= {201, 402, PaymentStatus.CAPTURED, PaymentStatus.AUTHORIZED}
    assert flagged("velocity_customer") == 4


def test_the_lock_is_let_go_before_the_saved_charge_goes_out(api, method, settings):
    """A saved-method charge waiting on its gateway holds no velocity lock:
    the customer's next payment is screened meanwhile, counting it."""
    from payments.providers.sandbox import SandboxPaymentsAdapter

    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    at_gateway, answer = threading.Event(), threading.Event()
    real = SandboxPaymentsAdapter.charge_saved

    def held(self, request):  # type: ignore[no-untyped-def]
        at_gateway.set()
        answer.wait(10)
        return real(self, request)

    statuses: list[object] = []

    def first() -> None:
        try:
            statuses.append(saved_charge(method)())
        finally:
            connection.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SandboxPaymentsAdapter, "charge_saved", held)
        thread = threading.Thread(target=first)
        thread.start()
        try:
            assert at_gateway.wait(10)
            second = api.post(
                URL,
                {
                    "order_id": "order-second",
                    "amount": 1_000,
                    "currency": "EUR",
                    "source_token": "tok_success",
                    "capture": True,
                    "customer_reference": CUSTOMER,
                },
                format="json",
                HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
            )
        finally:
            answer.set()
            thread.join(30)
    assert second.status_code == 201, second.json()
    assert second.json()["risk"]["reasons"] == ["velocity_customer"]
    assert statuses == [PaymentStatus.CAPTURED]
