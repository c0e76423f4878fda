"""A payment left unknown that the gateway then reports failed (reconciliation
finds the charge declined) shows why it failed, not the stale "did not
answer; reconciling" of the unknown (issue 17, part 6, the other way round):
the unknown's fields go to the timeline, the failure is the gateway's."""

import uuid

import pytest
from rest_framework.test import APIClient

from payments import services, tasks
from payments.models import Payment, PaymentStatus
from payments.providers.base import PaymentResult, ProviderStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.selectors import payment_timeline

pytestmark = pytest.mark.django_db


def test_unknown_then_found_failed_shows_the_gateways_failure(
    primary, api: APIClient, monkeypatch, django_capture_on_commit_callbacks
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
    assert payment.failure_code == "outcome_unknown"

    def declined(self, *args, **kwargs) -> PaymentResult:
        return PaymentResult(
            status=ProviderStatus.FAILED, provider_reference="ch_1", currency="EUR"
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_reference", declined)

    assert tasks.reconcile_payment(payment.pk) == PaymentStatus.FAILED

    failed = Payment.objects.get(pk=payment.pk)
    assert failed.failure_code == "failed_at_provider"
    assert "reconciling" not in failed.failure_message
    body = api.get(f"/api/v1/payments/{payment.public_id}/").json()
    assert body["status"] == "failed"
    assert body["failure"]["code"] == "failed_at_provider"
    kept = [e for e in payment_timeline(failed) if e.kind == "failure_cleared"]
    assert [e.title for e in kept] == ["unknown: outcome_unknown"]
