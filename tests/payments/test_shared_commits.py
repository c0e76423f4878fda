"""Two commits per API payment (docs/payments.md, "A lighter write path"):
the claim and the attempt's key commit before the gateway call, everything
else after it, and no guarantee is lost between the two."""

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from integrations.api import idempotency
from integrations.models import IdempotencyRecord
from integrations.models.attempts import AttemptOutcome
from payments import fraud, services
from payments.models import Payment, PaymentAttempt, PaymentStatus, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/payments/"
# Written by the gateway (the in-process sandbox) or the call log, not by us.
_NOT_OURS = ("payments_sandbox", "integrations_providercall")


def body(**overrides: object) -> dict:
    values = {"order_id": "order-9", "amount": 1050, "currency": "EUR"}
    values.update({"source_token": "tok_success", "capture": True, **overrides})
    return values


def post(api, key: str, data: dict | None = None):
    return api.post(URL, data or body(), format="json", HTTP_IDEMPOTENCY_KEY=key)


@contextmanager
def counted() -> Iterator[dict[str, int]]:
    """COMMITs, plus our writes made in autocommit (each its own commit)."""
    counts = {"commits": 0}
    original = connection._commit

    def commit() -> None:
        counts["commits"] += 1
        original()

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        write = sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")
        ours = not any(table in sql for table in _NOT_OURS)
        if write and ours and not connection.in_atomic_block:
            counts["commits"] += 1
        return execute(sql, params, many, context)

    connection._commit = commit
    try:
        with connection.execute_wrapper(wrapper):
            yield counts
    finally:
        connection._commit = original


@contextmanager
def gateway_then(action) -> Iterator[None]:
    """The sandbox charges, then ``action`` runs (a crash, a wait)."""
    real = SandboxPaymentsAdapter.authorize

    def authorize(self, request):  # type: ignore[no-untyped-def]
        result = real(self, request)
        action()
        return result

    SandboxPaymentsAdapter.authorize = authorize  # type: ignore[method-assign]
    try:
        yield
    finally:
        SandboxPaymentsAdapter.authorize = real  # type: ignore[method-assign]


# Without Redis the throttle and breaker keep their state in a database cache
# table, with commits of their own: the count is about the payment's writes.
@pytest.mark.redis
def test_a_payment_costs_two_commits(api, primary):
    post(api, uuid.uuid4().hex)  # warm-up: caches, prepared state
    with counted() as counts:
        response = post(api, uuid.uuid4().hex, body(order_id="order-10"))
    assert response.status_code == 201
    assert response.json()["status"] == "captured"
    assert counts["commits"] == 2
    record = IdempotencyRecord.objects.get(
        key=response.wsgi_request.headers["Idempotency-Key"]
    )
    assert record.state == IdempotencyRecord.State.COMPLETED
    assert record.response_body["id"] == response.json()["id"]


@pytest.mark.redis
def test_decline_and_replay_share_the_commits(api, primary):
    post(api, uuid.uuid4().hex)  # warm-up: the key's last-used time, written apart
    key = uuid.uuid4().hex
    with counted() as counts:
        declined = post(api, key, body(source_token="tok_decline"))
    assert declined.status_code == 402
    assert counts["commits"] == 2
    replay = post(api, key, body(source_token="tok_decline"))
    assert replay.status_code == 402
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == declined.json()
    assert post(api, key, body()).status_code == 422
    assert Payment.objects.filter(status=PaymentStatus.FAILED).count() == 1


def test_failure_before_the_call_leaves_nothing(api, primary, monkeypatch):
    def broken(**kwargs: object) -> None:
        raise RuntimeError("screening down")

    monkeypatch.setattr(fraud, "payment_screen", broken)
    key = uuid.uuid4().hex
    with pytest.raises(RuntimeError):
        post(api, key)
    assert not Payment.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert not SandboxCharge.objects.exists()
    monkeypatch.undo()
    assert post(api, key).status_code == 201


def _crash() -> None:
    raise SystemExit("worker killed")


def test_crash_between_the_commits_is_reconciled_once(
    api, primary, settings, monkeypatch
):
    # Killed: no cleanup runs, so the claim stays in flight as committed.
    monkeypatch.setattr(idempotency, "_release", lambda record: None)
    key = uuid.uuid4().hex
    with gateway_then(_crash), pytest.raises(SystemExit):
        post(api, key)
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING  # the result never committed
    attempt = PaymentAttempt.objects.get(payment=payment)
    assert attempt.idempotency_key and attempt.finished_at is None
    assert SandboxCharge.objects.filter(kind="payment").count() == 1
    # The in-flight claim is committed: a retry meanwhile is a 409...
    assert post(api, key).status_code == 409
    # ...and once past its timeout it is replaced, without a second charge.
    settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = 0
    retry = post(api, key)
    assert retry.json()["id"] == payment.public_id
    assert SandboxCharge.objects.filter(kind="payment").count() == 1
    # Reconciliation asks the attempt's account by the stored key.
    settings.PAYMENTS_RECONCILE_AFTER_MINUTES = 0
    services.payments_reconcile_pending()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.account_id == primary.pk
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def test_exception_after_the_call_releases_the_claim(api, primary):
    key = uuid.uuid4().hex
    with gateway_then(_crash), pytest.raises(SystemExit):
        post(api, key)
    assert not IdempotencyRecord.objects.exists()  # the client may retry now
    attempt = PaymentAttempt.objects.get()
    assert attempt.outcome != AttemptOutcome.SUCCEEDED
    retry = post(api, key)
    assert retry.json()["id"] == attempt.payment.public_id
    assert retry.json()["status"] == PaymentStatus.PENDING
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


@pytest.mark.postgres
def test_same_key_while_in_flight_is_409(api, primary):
    """Requests that arrive while the first is at the gateway see its
    committed claim; those that arrive before that commit wait for it."""
    key = uuid.uuid4().hex
    in_call = threading.Event()
    release = threading.Event()

    def wait() -> None:
        in_call.set()
        release.wait(timeout=20)

    statuses: list[int] = []

    def first() -> None:
        try:
            statuses.append(post(api, key).status_code)
        finally:
            connection.close()

    def other(barrier: threading.Barrier) -> None:
        try:
            barrier.wait(timeout=20)
            statuses.append(post(api, key).status_code)
        finally:
            connection.close()

    with gateway_then(wait):
        leader = threading.Thread(target=first)
        leader.start()
        assert in_call.wait(timeout=20)
        barrier = threading.Barrier(4)
        others = [threading.Thread(target=other, args=(barrier,)) for _ in range(4)]
        started = time.monotonic()
        for thread in others:
            thread.start()
        for thread in others:
            thread.join(timeout=30)
        waited = time.monotonic() - started
        release.set()
        leader.join(timeout=30)
    assert sorted(statuses) == [201, 409, 409, 409, 409]
    assert waited < 10  # answered while the first was still at the gateway
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


@pytest.mark.postgres
def test_same_key_racing_the_first_commit(api, primary):
    """All at once: one payment, one charge; the rest 409 or a replay."""
    key = uuid.uuid4().hex
    barrier = threading.Barrier(6)
    results: list[tuple[int, str]] = []

    def pay() -> None:
        try:
            barrier.wait(timeout=20)
            response = post(api, key)
            results.append(
                (response.status_code, response.get("Idempotent-Replayed", ""))
            )
        finally:
            connection.close()

    with gateway_then(lambda: time.sleep(0.2)):
        threads = [threading.Thread(target=pay) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    fresh = [r for r in results if r == (201, "")]
    assert len(results) == 6 and len(fresh) == 1
    assert all(r in ((409, ""), (201, "true")) for r in results if r not in fresh)
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.filter(kind="payment").count() == 1
