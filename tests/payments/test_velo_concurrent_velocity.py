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


def test_payments_sharing_values_crosswise_never_deadlock(
    api, primary, monkeypatch, settings
):
    """Each payment shares its customer with some and its IP with others: the
    locks are taken in one order, so none waits on a payment waiting on it
    (a deadlock would answer 500), and each rule counts every payment."""
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 2
    settings.FRAUD_VELOCITY_MAX_PER_IP = 2
    settings.FRAUD_VELOCITY_MAX_PER_EMAIL = 2
    bodies = [
        body(
            n,
            customer_reference=f"cus_{n % 2}",
            customer_email=f"buyer{n % 3}@example.com",
            ip_address=f"198.51.100.{n // 3}",
        )
        for n in range(6)
    ]
    codes = post_together(api, monkeypatch, bodies)
    # Over both caps at once is a high risk: blocked (402), not an error.
    assert len(codes) == 6 and set(codes) <= {201, 402}, codes
    # Three payments per customer and per IP over a cap of two; two per e-mail.
    assert flagged("velocity_customer") == 2
    assert flagged("velocity_ip") == 2
    assert flagged("velocity_email") == 0


def test_one_key_sent_twice_at_once_makes_one_payment(api, primary, settings):
    """The same idempotency key and customer at once: the second waits on the
    claim or the velocity lock, never both ways round, and gets the first's
    payment (or is told the key is in use); one payment, nothing at 500."""
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    key = uuid.uuid4().hex
    data = body(1, customer_reference="cus_twice", customer_email="t@example.com")
    answers: list[tuple[int, dict]] = []

    def post() -> None:
        try:
            response = api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY=key)
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 2, answers
    assert all(code in (201, 409) for code, _ in answers), answers
    assert Payment.objects.count() == 1
    payment = Payment.objects.get()
    assert payment.risk_reasons == []  # screened once, against no payment
    assert [a["id"] for code, a in answers if code == 201] in (
        [payment.public_id],
        [payment.public_id] * 2,
    )


def test_the_lock_is_let_go_before_the_gateway_call(
    api, primary, monkeypatch, settings
):
    """A payment waiting on its gateway holds no velocity lock: the same
    customer's next payment is screened meanwhile, counting it."""
    from payments.providers.sandbox import SandboxPaymentsAdapter

    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    at_gateway, answer = threading.Event(), threading.Event()
    real = SandboxPaymentsAdapter.authorize
    calls: list[str] = []

    def held(self, request):  # type: ignore[no-untyped-def]
        calls.append(request.order_id)
        if len(calls) == 1:
            at_gateway.set()
            answer.wait(10)
        return real(self, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "authorize", held)
    data = {"customer_reference": "cus_gateway"}
    codes: list[int] = []

    def first() -> None:
        try:
            key = uuid.uuid4().hex
            response = api.post(
                URL, body(1, **data), format="json", HTTP_IDEMPOTENCY_KEY=key
            )
            codes.append(response.status_code)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert at_gateway.wait(10)
        key = uuid.uuid4().hex
        second = api.post(URL, body(2, **data), format="json", HTTP_IDEMPOTENCY_KEY=key)
    finally:
        answer.set()
        thread.join(30)
    assert second.status_code == 201, second.json()
    assert second.json()["risk"]["reasons"] == ["velocity_customer"]
    assert codes == [201]
    assert calls == ["order-velo-1", "order-velo-2"]
