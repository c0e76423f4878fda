"""A refund that never reached the gateway is not a dead end (issue 17, part
10): it stays pending, is sent again with back-off under the same key until
the gateway answers, and staff may cancel it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services, tasks
from payments.models import Payment, PaymentStatus, RefundStatus, SandboxCharge

pytestmark = pytest.mark.django_db


def captured(primary) -> Payment:
    payment = services.payment_create(
        order_id="o-1",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key="k-1",
    )
    assert payment.status == PaymentStatus.CAPTURED
    return payment


def outage(account, on: bool) -> None:
    account.settings = {"outage": True} if on else {}
    account.save()


def test_unreachable_refund_is_pending_then_sent_once_the_gateway_answers(
    primary, settings
):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    payment = captured(primary)
    outage(primary, True)

    refund = services.payment_refund(payment=payment, amount=400, idempotency_key="r1")

    assert (refund.status, refund.failure_code) == (
        RefundStatus.PENDING,
        "no_provider_available",
    )
    assert services.payment_refundable(payment=payment) == 600  # reserved
    # Not due yet: nothing is sent.
    assert tasks.retry_pending_refunds() == 0
    later = refund.next_attempt_at + timedelta(seconds=1)
    assert services.refunds_retry_due(now=later) == 1  # still out: deferred
    refund.refresh_from_db()
    assert (refund.status, refund.send_attempts) == (RefundStatus.PENDING, 2)
    assert refund.next_attempt_at > later  # backed off further

    outage(primary, False)
    assert services.refunds_retry_due(now=refund.next_attempt_at) == 1

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert (payment.amount_refunded, payment.status) == (
        400,
        PaymentStatus.PARTIALLY_REFUNDED,
    )
    kept = SandboxCharge.objects.filter(kind="refund")
    assert [c.idempotency_key for c in kept] == [refund.public_id]


def test_pending_refund_is_202_and_visible_in_the_api(primary, api, settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    payment = captured(primary)
    outage(primary, True)

    response = api.post(
        f"/api/v1/payments/{payment.public_id}/refunds/",
        {"amount": 300},
        format="json",
        HTTP_IDEMPOTENCY_KEY="rk-1",
    )

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["failure_code"]) == (
        "pending",
        "no_provider_available",
    )


def test_staff_cancel_frees_the_amount(primary, settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    payment = captured(primary)
    outage(primary, True)
    refund = services.payment_refund(payment=payment, amount=400, idempotency_key="r2")

    refund = services.refund_cancel(refund=refund, actor="staff")

    assert refund.status == RefundStatus.CANCELLED
    assert services.payment_refundable(payment=payment) == 1000
    outage(primary, False)
    far = timezone.now() + timedelta(days=1)
    assert services.refunds_retry_due(now=far) == 0
    with pytest.raises(services.InvalidState):
        services.refund_cancel(refund=refund, actor="staff")


def test_staff_cannot_cancel_a_refund_while_its_retry_is_in_flight(
    primary, settings, monkeypatch
):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    payment = captured(primary)
    outage(primary, True)
    refund = services.payment_refund(payment=payment, amount=400, idempotency_key="r3")
    outage(primary, False)
    from payments.services import refunds as refund_services

    send = refund_services.refund_send
    refused = []

    def send_while_staff_cancel(pending):
        # Staff press "cancel" while the gateway is refunding it.
        with pytest.raises(services.InvalidState):
            services.refund_cancel(refund=pending, actor="staff")
        refused.append(pending.pk)
        # The amount stays reserved meanwhile: no second refund can take it.
        assert services.payment_refundable(payment=payment) == 600
        return send(pending)

    monkeypatch.setattr(refund_services, "refund_send", send_while_staff_cancel)
    assert services.refunds_retry_due(now=refund.next_attempt_at) == 1

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refused == [refund.pk]
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == 400
