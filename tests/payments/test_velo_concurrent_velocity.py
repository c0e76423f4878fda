"""Fraud velocity on PostgreSQL: concurrent payments of one customer (card
testing is many attempts at once) are screened in turn, each counting the
ones screened before it, not all against the same committed count."""

import contextlib
import threading
import uuid

import pytest
from django.db import connection

from payments import fraud
from payments.models import Payment
from tests.pg import on_a_lock_wait

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

URL = "/api/v1/payments/"


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent requests need PostgreSQL")


def body(number: int, **screened: str) -> dict:
    return {
        "order_id": f"order-velo-{number}",
        "amount": 1000,
        "currency": "EUR",
        "source_token": "tok_success",
        "capture": True,
        **screened,
    }


def post_together(api, monkeypatch, bodies: list[dict]) -> list[int]:
    """Each body posted on its own thread under a fresh key; every request
    waits after its screening until all have screened, unless one waits on a
    lock (then they go on: screened in turn). Their status codes."""
    barrier = threading.Barrier(len(bodies), timeout=5)
    real_screen = fraud.payment_screen

    def screened_together(**kwargs):  # type: ignore[no-untyped-def]
        screening = real_screen(**kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return screening

    monkeypatch.setattr(fraud, "payment_screen", screened_together)
    codes: list[int] = []

    def post(data: dict) -> None:
        try:
            key = uuid.uuid4().hex
            response = api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY=key)
            codes.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(data,)) for data in bodies]
    with on_a_lock_wait(barrier.abort):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return codes


def flagged(rule: str) -> int:
    return sum(rule in p.risk_reasons for p in Payment.objects.all())


@pytest.mark.parametrize(
    ("rule", "setting", "screened"),
    [
        (
            "velocity_customer",
            "FRAUD_VELOCITY_MAX_PER_CUSTOMER",
            lambda n: {"customer_reference": "cus_velo"},
        ),
        (
            "velocity_email",
            "FRAUD_VELOCITY_MAX_PER_EMAIL",
            # The same address in other cases is the same customer.
            lambda n: {
                "customer_email": ["Card@Test.example", "card@test.example"][n % 2]
            },
        ),
        (
            "velocity_ip",
            "FRAUD_VELOCITY_MAX_PER_IP",
            lambda n: {"ip_address": "203.0.113.9"},
        ),
    ],
)
def test_concurrent_payments_over_the_cap_are_screened_in_turn(
    api, primary, monkeypatch, settings, rule, setting, screened
):
    setattr(settings, setting, 2)
    codes = post_together(api, monkeypatch, [body(n, **screened(n)) for n in range(4)])
    assert sorted(codes) == [201] * 4, codes
    # Two within the cap; the third and fourth each counted those before.
    assert flagged(rule) == 2
