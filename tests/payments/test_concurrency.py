"""Concurrent refunds on PostgreSQL never refund more than was captured;
concurrent captures under fresh keys make one gateway call; a capture and a
void at once make one; a dead request's retry never rides on another's."""

import contextlib
import threading
import uuid

import pytest
from django.db import connection

from payments import services, tasks
from payments.models import Payment, Refund, RefundStatus, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import followups
from tests.payments.test_rerun_followups import _unknown_then_killed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_refunds_never_exceed_captured(primary):
    payment = services.payment_create(
        order_id="race",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=uuid.uuid4().hex,
    )
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def refund() -> None:
        try:
            barrier.wait()
            result = services.payment_refund(
                payment=Payment.objects.get(pk=payment.pk), amount=300
            )
            outcomes.append(result.status)
        except services.AmountExceedsRefundable:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=refund) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    payment.refresh_from_db()
    assert outcomes.count(RefundStatus.SUCCEEDED) == 3
    assert outcomes.count("refused") == 5
    assert payment.amount_refunded == 900
    assert Refund.objects.filter(status=RefundStatus.SUCCEEDED).count() == 3
    charge = SandboxCharge.objects.get(kind="payment")
    assert charge.amount_refunded == 900


def test_two_fresh_keys_capturing_at_once_get_one_capture_and_one_refusal(
    primary, api, monkeypatch
):
    # Both requests read "no capture under way" before either noted its
    # attempt: without a lock both would ride on one gateway key, each
    # answered with a call only one of them made.
    created = api.post(
        "/api/v1/payments/",
        {
            "order_id": "race",
            "amount": 1000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": False,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    url = f"/api/v1/payments/{created.json()['id']}/capture/"
    barrier = threading.Barrier(2, timeout=2)
    real_check = followups._under_way

    def checked_together(*args, **kwargs):
        under_way = real_check(*args, **kwargs)
        # The other request checks too, if it can (not while it waits on a lock).
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return under_way

    real_capture = SandboxPaymentsAdapter.capture
    calls: list[str] = []

    def counted(self, *args, **kwargs):
        calls.append("capture")
        return real_capture(self, *args, **kwargs)

    monkeypatch.setattr(followups, "_under_way", checked_together)
    monkeypatch.setattr(SandboxPaymentsAdapter, "capture", counted)
    answers: list[tuple[int, str]] = []

    def capture(key: str) -> None:
        try:
            response = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY=key)
            code = response.json().get("error", {}).get("code", "")
            answers.append((response.status_code, code))
        finally:
            connection.close()

    threads = [threading.Thread(target=capture, args=(k,)) for k in ("c-1", "c-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers)[0] == (200, ""), answers
    assert sorted(answers)[1][0] == 409, answers
    assert sorted(answers)[1][1] in ("capture_in_progress", "invalid_state"), answers
    assert calls == ["capture"]
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 1000


def _authorized(api) -> str:
    created = api.post(
        "/api/v1/payments/",
        {
            "order_id": "race",
            "amount": 1000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": False,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    return created.json()["id"]


@pytest.mark.parametrize("first", ["capture", "void"])
def test_a_capture_and_a_void_at_once_make_one_call_and_one_409(
    primary, api, monkeypatch, first
):
    # Under fresh keys: the second finds the first's attempt at the gateway
    # and is refused without a call, not sent to be refused as a card error.
    pid = _authorized(api)
    other = "void" if first == "capture" else "capture"
    calls: list[str] = []
    answered = threading.Event()
    real = getattr(SandboxPaymentsAdapter, first)

    def held(self, *args, **kwargs):
        calls.append(first)
        answered.wait(10)  # the other request runs meanwhile
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentsAdapter, first, held)
    _counted_on(monkeypatch, other, calls)
    answers: dict[str, tuple[int, str]] = {}

    def post(operation: str) -> None:
        try:
            response = api.post(
                f"/api/v1/payments/{pid}/{operation}/",
                {},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"{operation}-1",
            )
            code = response.json().get("error", {}).get("code", "")
            answers[operation] = (response.status_code, code)
        finally:
            connection.close()

    thread = threading.Thread(target=post, args=(first,))
    thread.start()
    while not calls:  # the first request's attempt is at the gateway
        thread.join(0.01)
    try:
        post(other)
    finally:
        answered.set()
        thread.join(30)
    assert answers == {first: (200, ""), other: (409, f"{first}_in_progress")}
    assert calls == [first]
    status = "captured" if first == "capture" else "voided"
    assert Payment.objects.get(public_id=pid).status == status
    assert SandboxCharge.objects.get(kind="payment").status == status


def _counted_on(monkeypatch, operation: str, calls: list[str]) -> None:
    real = getattr(SandboxPaymentsAdapter, operation)

    def counted(self, *args, **kwargs):
        calls.append(operation)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentsAdapter, operation, counted)


def test_a_rerun_is_not_answered_from_a_fresh_keys_capture_in_flight(
    primary, api, monkeypatch
):
    # The dead request's capture of 600 never landed (reconciliation found
    # the payment authorized); a fresh key's capture of 1000 is at the
    # gateway under the payment's one capture key when the dead request's
    # retry comes: re-sending that key would answer it with the 1000.
    pid, url = _unknown_then_killed(
        api, monkeypatch, "capture", {"amount": 600}, performed=False
    )
    payment = Payment.objects.get(public_id=pid)
    assert tasks.reconcile_payment(payment.pk) == "authorized"
    real = SandboxPaymentsAdapter.capture
    landed, answered = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow(self, request):
        calls.append(request.amount)
        result = real(self, request)
        landed.set()
        answered.wait(10)
        return result

    monkeypatch.setattr(SandboxPaymentsAdapter, "capture", slow)
    fresh: list[int] = []

    def capture() -> None:
        try:
            response = api.post(
                url, {"amount": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="fresh-1"
            )
            fresh.append(response.status_code)
        finally:
            connection.close()

    thread = threading.Thread(target=capture)
    thread.start()
    assert landed.wait(10)
    try:
        retry = api.post(
            url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1"
        )
    finally:
        answered.set()
        thread.join(30)
    assert (retry.status_code, retry.json()["error"]["code"]) == (
        409,
        "capture_in_progress",
    )
    assert (fresh, calls) == ([200], [1000])
    # Not stored: once the 1000 is recorded the retry is refused for good.
    again = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_state")
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 1000
