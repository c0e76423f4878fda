"""r-pay38: two left-overs pay38 noticed. ``advised_until`` called without
``now`` reads the wait on the database's clock (as every caller passes it),
not this machine's; ``reconcile_payments`` masks known secrets in the fatal
error's line it prints, as ``run_recurring_charges`` does."""

import uuid
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils import timezone

from integrations.api.services import idempotency_records_prune
from payments import services
from payments.management.commands import reconcile_payments
from payments.models import Payment, PaymentStatus, RecurringStatus
from payments.providers.base import Decline, PaymentEventKind
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.slots import advised_until
from tests.factories import ProviderAccountFactory
from tests.payments.recurring_setup import due_charge, saved_card_charge

pytestmark = pytest.mark.django_db

SECRET = "sk_live_r_pay38_0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]
BODY = {"order_id": "order-r38", "amount": 1050, "currency": "EUR", "capture": True}


def test_advised_until_without_now_reads_the_database_clock(primary, monkeypatch):
    method = services.payment_method_save(
        customer_reference="cus_r38", source_token="tok_success", idempotency_key="r38"
    )

    def decline(self, request):
        raise Decline("no", code="card_declined", advice_code="retry_after_24_hours")

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
    declined = saved_card_charge(method, order_id="order-r38")
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
    assert message.startswith(
        "reconciliation stopped: ImproperlyConfigured: refused key"
    )
    assert SECRET not in message
    assert "[redacted]" in message


def test_a_create_repeated_after_its_payment_was_not_collected_answers_402(
    primary, api, django_capture_on_commit_callbacks
):
    """A create answered 201 ``captured`` that the gateway later reports not
    collected (a final failure after success): repeated under its key once
    the key's record expired, it answers 402 ``not_collected``, so the 402
    section's list of such codes names it (pay38's left it out)."""
    body = {**BODY, "source_token": "tok_success"}
    again = _repeated_after_expiry(
        api,
        body,
        django_capture_on_commit_callbacks,
        201,
        PaymentEventKind.FAILED_FINAL,
    )

    assert again.status_code == 402, again.content
    error = again.json()["error"]
    assert (error["code"], error["type"]) == ("not_collected", "invalid_request_error")
    section = (
        (ROOT / "docs" / "api.md")
        .read_text()
        .split("## A gateway's refusal (402)", 1)[1]
    )
    replayed = " ".join(section.split("repeated under a key", 1)[1].split())
    replayed = replayed.split("No other endpoint answers them", 1)[0]
    assert "`not_collected`" in replayed


def _key(key: str) -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": key}


def _repeated_after_expiry(api, body: dict, callbacks, status: int, kind):
    """Create a payment (answered ``status``), apply the gateway's ``kind``
    to it, let its key's record expire and repeat the create under the key:
    the repeat's answer."""
    key = uuid.uuid4().hex
    with callbacks(execute=True):
        first = api.post("/api/v1/payments/", body, format="json", **_key(key))
    assert first.status_code == status, first.content
    payment = Payment.objects.get(public_id=first.json()["id"])
    services.payment_event_apply(payment=payment, kind=kind)
    ttl = timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    assert idempotency_records_prune(now=timezone.now() + ttl) >= 1
    return api.post("/api/v1/payments/", body, format="json", **_key(key))


def test_a_paused_charge_resumed_inside_the_wait_is_held_by_the_run(
    primary, api, monkeypatch
):
    """A paused charge (no decline stopped it) resumed on a card inside its
    network's wait keeps the restart's ``next_run_at`` (now): only a resume
    or move after a decline, and a new charge, take the wait's end; the run
    holds the slot to it, nothing sent. docs/api.md's 402 section said every
    resume or move took the wait's end."""
    method = services.payment_method_save(
        customer_reference="cus_r38p", source_token="tok_success", idempotency_key="p"
    )
    recurring = due_charge(
        method,
        next_run_at=timezone.now() - timedelta(days=3),
        status=RecurringStatus.PAUSED,
    )

    def decline(self, request):
        raise Decline("no", code="card_declined", advice_code="retry_after_24_hours")

    with monkeypatch.context() as declined:
        declined.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
        one_off = saved_card_charge(method, order_id="order-r38p")
    ends = one_off.failure_learnt_at + timedelta(hours=24)
    url = f"/api/v1/recurring-charges/{recurring.public_id}/resume/"

    resumed = api.post(url, {}, format="json", **_key(uuid.uuid4().hex))
    out = StringIO()
    call_command("run_recurring_charges", stdout=out)

    assert resumed.status_code == 200, resumed.content
    assert datetime.fromisoformat(resumed.json()["next_run_at"]) < ends
    assert "held for the card network's advice" in out.getvalue()
    recurring.refresh_from_db()
    assert recurring.next_run_at == ends
    assert Payment.objects.filter(saved_method=method).count() == 1
    section = " ".join(
        (ROOT / "docs" / "api.md")
        .read_text()
        .split("## A gateway's refusal (402)", 1)[1]
        .split("\n## ", 1)[0]
        .split()
    )
    assert "created, resumed or moved onto a card inside its network's" not in section
    assert "the run holds its due slot to the wait's end" in section


def test_a_webhooks_failure_without_reason_is_a_replayed_creates_402(
    primary, api, django_capture_on_commit_callbacks
):
    """A create answered 202 ``unknown`` that the gateway's webhook then
    reports failed, no reason given: a repeat of the create under its key
    after the record expired answers 402 ``failed_at_provider``, as when
    reconciliation finds it so; the docs name the webhook too."""
    body = {**BODY, "order_id": "order-r38w", "source_token": "tok_timeout"}
    again = _repeated_after_expiry(
        api, body, django_capture_on_commit_callbacks, 202, PaymentEventKind.FAILED
    )

    assert again.status_code == 402, again.content
    assert again.json()["error"]["code"] == "failed_at_provider"
    section = " ".join((ROOT / "docs" / "api.md").read_text().split())
    assert "with no reason, at the create, by its webhook or when" in section
