"""revpay23: the retry cap counted only declines the gateway answered at
once (our DECLINE_CODES). A recurring try whose answer was lost and which
reconciliation then found declined at the gateway (``failed_at_provider``)
stops the charge as a decline and was a try of the card all the same, yet
it was not counted: such a charge could be resumed past
RECURRING_SOFT_DECLINE_RETRY_LIMIT for ever."""

import uuid

import pytest

from integrations.errors import Unknown
from payments import services
from payments.models import PaymentStatus, RecurringStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    declined_lookup,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def resume(api, recurring):
    return api.post(
        f"/api/v1/recurring-charges/{recurring.public_id}/resume/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def declined_after_reconcile(primary, recurring, monkeypatch) -> None:
    """The run's try got no answer; reconciliation finds it declined."""

    def lost(self, request):
        raise Unknown("read timeout", code="read_timeout")

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", lost)
    assert recurring_charges_report().unknown == 1
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)
    services.payments_reconcile_pending()
    monkeypatch.undo()
    recurring_charges_report()
    lost = payments_of(recurring)[-1]
    assert (lost.status, lost.failure_code) == (
        PaymentStatus.FAILED,
        "failed_at_provider",
    )
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED


def test_declines_found_by_reconciliation_count_toward_the_cap(
    api, primary, recurring, monkeypatch, settings
):
    settings.RECURRING_SOFT_DECLINE_RETRY_LIMIT = 2
    declined_after_reconcile(primary, recurring, monkeypatch)
    for _ in range(2):
        assert resume(api, recurring).status_code == 200
        declined_after_reconcile(primary, recurring, monkeypatch)
    before = charges(primary)

    response = resume(api, recurring)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "payment_method_retries_exhausted"
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring_charges_report().charged == 0
    assert charges(primary) == before
