"""The late payment's webhook and the retry's reconciliation at the same
moment: the webhook reads the retry still open (its change not committed)
and only notes it; the retry, found paid, waits for the late payment's row
before reading it, so it sees it paid and puts it in review: the period
charged twice is never missed, and reviewed once."""

import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client

from payments import services
from payments.models import Payment, PaymentStatus
from payments.providers.base import PaymentResult, ProviderStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import slots
from tests.payments.conftest import webhook_body, webhook_headers
from tests.payments.recurring_setup import (
    failed_as_never_charged,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    rerun_unknown,
)


def _paid_lookup(self, *, idempotency_key, lookup) -> PaymentResult:
    return PaymentResult(
        status=ProviderStatus.CAPTURED,
        provider_reference="ch_retry",
        currency="EUR",
        amount_authorized=1_500,
        amount_captured=1_500,
        raw_status="succeeded",
    )


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def _in_thread(target, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _late_paid_webhook() -> None:
    body = webhook_body("payment.captured", reference="ch_lost", amount=1_500)
    response = Client().post(
        "/webhooks/sbx-primary/",
        data=body,
        content_type="application/json",
        **webhook_headers(body),
    )
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_retry_found_paid_while_the_late_payment_is_reported_is_reviewed_once(
    primary,
    recurring,
    monkeypatch,
):
    lost = failed_as_never_charged(primary, recurring, "ch_lost")
    retry = rerun_unknown(primary, recurring)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", _paid_lookup)
    # The webhook pauses in its transaction right after reading the retry.
    read, go = threading.Event(), threading.Event()
    real = slots.period_charged_elsewhere

    def pausing(payment: Payment) -> Payment | None:
        other = real(payment)
        read.set()
        assert go.wait(10)
        return other

    monkeypatch.setattr(slots, "period_charged_elsewhere", pausing)
    errors: list = []
    hook = _in_thread(_late_paid_webhook, errors)
    assert read.wait(10)
    # Meanwhile reconciliation finds the retry paid; it must wait for the
    # late payment's row (the webhook holds it) before judging the period.
    reconcile = _in_thread(lambda: services.payment_reconcile(payment=retry), errors)
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock():
        assert reconcile.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    go.set()
    hook.join(15)
    reconcile.join(15)

    assert not errors, errors
    lost.refresh_from_db()
    retry.refresh_from_db()
    assert (lost.status, retry.status) == (PaymentStatus.CAPTURED,) * 2
    assert lost.notes.filter(kind="recurring_rerun_open").exists()
    (note,) = lost.notes.filter(kind="recurring_charged_twice")
    assert retry.public_id in note.title
