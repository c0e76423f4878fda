"""A payment whose failure is settled keeps no stale failure fields (issue 17,
part 6): they move to the timeline when the status moves on."""

import uuid

import pytest
from rest_framework.test import APIClient

from payments import services, tasks
from payments.models import Payment, PaymentStatus
from payments.selectors import payment_timeline

pytestmark = pytest.mark.django_db


def test_unknown_then_reconciled_captured_shows_no_failure(
    primary, api: APIClient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_create(
            order_id="order-1",
            amount=1050,
            currency="EUR",
            source_token="tok_timeout",
            capture=True,
            idempotency_key=uuid.uuid4().hex,
        )
    assert (payment.status, payment.failure_code) == (
        PaymentStatus.UNKNOWN,
        "outcome_unknown",
    )

    assert tasks.reconcile_payment(payment.pk) == PaymentStatus.CAPTURED

    settled = Payment.objects.get(pk=payment.pk)
    assert (settled.failure_code, settled.failure_message) == ("", "")
    body = api.get(f"/api/v1/payments/{payment.public_id}/").json()
    assert (body["status"], body["failure"]) == ("captured", None)
    kept = [e for e in payment_timeline(settled) if e.kind == "failure_cleared"]
    assert [e.title for e in kept] == ["unknown: outcome_unknown"]
    assert "reconciling" in kept[0].detail
