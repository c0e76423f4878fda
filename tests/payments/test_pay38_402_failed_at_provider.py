"""pay38: ``failed_at_provider`` is an endpoint's 402. A create whose answer
was lost (202, ``unknown``) that reconciliation then finds failed, with no
reason from the gateway, is answered 402 ``failed_at_provider`` (type
``card_error``) when the storefront repeats the create under its key after
the key's record expired: the payment as it now stands. docs/api.md's 402
section says so, and names the other codes a payment ends with there."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from integrations.api.services import idempotency_records_prune
from payments import tasks
from payments.models import Payment, PaymentStatus
from payments.providers.base import PaymentResult, ProviderStatus
from payments.providers.sandbox import SandboxPaymentsAdapter

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BODY = {
    "order_id": "order-pay38",
    "amount": 1050,
    "currency": "EUR",
    "source_token": "tok_timeout",
    "capture": True,
}


def _section() -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("## A gateway's refusal (402)", 1)[1].split("\n## ", 1)[0]
    return " ".join(section.split())


def _found_failed(monkeypatch) -> None:
    """The gateway's look-ups answer "failed", no reason given."""

    def failed(self, *args, **kwargs) -> PaymentResult:
        return PaymentResult(
            status=ProviderStatus.FAILED, provider_reference="ch_38", currency="EUR"
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", failed)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_reference", failed)


def test_a_create_repeated_after_its_key_expired_answers_402_failed_at_provider(
    primary, api, monkeypatch, django_capture_on_commit_callbacks
):
    key = uuid.uuid4().hex
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(
            "/api/v1/payments/", BODY, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
    assert first.status_code == 202, first.content
    _found_failed(monkeypatch)
    payment = Payment.objects.get(public_id=first.json()["id"])
    assert tasks.reconcile_payment(payment.pk) == PaymentStatus.FAILED
    ttl = timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    assert idempotency_records_prune(now=timezone.now() + ttl) >= 1

    again = api.post("/api/v1/payments/", BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert again.status_code == 402, again.content
    body = again.json()
    assert body["error"]["code"] == "failed_at_provider"
    assert body["error"]["type"] == "card_error"
    assert body["payment"]["id"] == payment.public_id
    assert body["payment"]["status"] == "failed"


def test_the_402_section_names_the_codes_a_replayed_create_can_end_with():
    section = _section()
    assert "`failed_at_provider` (type `card_error`" in section
    for code in (
        "not_found_at_provider",
        "cancelled_at_provider",
        "settled_by_staff",
        "duplicate_charge",
    ):
        assert f"`{code}`" in section, code
