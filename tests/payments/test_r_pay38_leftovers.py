"""r-pay38: two left-overs pay38 noticed. ``advised_until`` called without
``now`` reads the wait on the database's clock (as every caller passes it),
not this machine's; ``reconcile_payments`` masks known secrets in the fatal
error's line it prints, as ``run_recurring_charges`` does."""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments import services
from payments.management.commands import reconcile_payments
from payments.models import PaymentStatus
from payments.providers.base import Decline
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.slots import advised_until
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

SECRET = "sk_live_r_pay38_0123456789abcdef"


def test_advised_until_without_now_reads_the_database_clock(primary, monkeypatch):
    method = services.payment_method_save(
        customer_reference="cus_r38", source_token="tok_success", idempotency_key="r38"
    )

    def decline(self, request):
        raise Decline("no", code="card_declined", advice_code="retry_after_24_hours")

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
    declined = services.saved_method_charge(
        saved_method=method,
        amount=700,
        currency="EUR",
        order_id="order-r38",
        idempotency_key=uuid.uuid4().hex,
    )
    assert declined.status == PaymentStatus.FAILED
    ends = declined.failure_learnt_at + timedelta(hours=24)
    real_now = timezone.now
    # This machine's clock 11 days ahead of the database's: past the longest
    # wait a network advises, so a wait read on it would be over.
    with monkeypatch.context() as skewed:
        skewed.setattr(timezone, "now", lambda: real_now() + timedelta(days=11))
        assert advised_until(method) == ends


def test_reconcile_payments_masks_a_secret_in_its_fatal_line(primary, monkeypatch):
    ProviderAccountFactory(
        provider="sandbox", slug="sbx-r38", credentials={"api_key": SECRET}
    )

    def fails() -> list:
        # A configuration fault quoting a credential (a ProviderError masks
        # its own text; this does not).
        raise ImproperlyConfigured(f"refused key {SECRET}\nmore")

    monkeypatch.setattr(reconcile_payments, "payments_reconcile_pending", fails)
    with pytest.raises(CommandError) as info:
        call_command("reconcile_payments", stdout=StringIO())

    message = str(info.value)
    assert message.startswith("reconciliation stopped: ImproperlyConfigured: refused key")
    assert SECRET not in message
    assert "[redacted]" in message
