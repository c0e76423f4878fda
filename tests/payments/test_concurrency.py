"""Concurrent refunds on PostgreSQL never refund more than was captured;
concurrent captures under fresh keys make one gateway call."""

import contextlib
import threading
import uuid

import pytest
from django.db import connection

from payments import services
from payments.models import Payment, Refund, RefundStatus, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import followups

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
