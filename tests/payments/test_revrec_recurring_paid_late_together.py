"""Two tries of one period, both failed as never charged, reported paid by
the gateway at the same moment (the customer cancelled meanwhile, so no slot
is taken back to order them): each must not read the other as still failed,
or the period charged twice is never reviewed."""

import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client

from payments import services
from payments.models import Payment, PaymentStatus, RecurringCharge, RecurringStatus
from payments.services import slots
from tests.payments.conftest import webhook_body, webhook_headers
from tests.payments.recurring_setup import (
    failed_as_never_charged,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    rerun_unknown,
)


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def _paid_webhook(reference: str, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            body = webhook_body("payment.captured", reference=reference, amount=1_500)
            response = Client().post(
                "/webhooks/sbx-primary/",
                data=body,
                content_type="application/json",
                **webhook_headers(body),
            )
            assert response.status_code == 200
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _cancelled_with_two_never_charged_tries(primary, recurring) -> list[Payment]:
    first = failed_as_never_charged(primary, recurring, "ch_first")
    second = rerun_unknown(primary, recurring)
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.CANCELLED
    )
    Payment.objects.filter(pk=second.pk).update(
        account=primary, provider_reference="ch_second"
    )
    services.payments_reconcile_pending()
    second.refresh_from_db()
    assert (second.status, second.failure_code) == (
        PaymentStatus.FAILED,
        "not_found_at_provider",
    )
    return [first, second]


@pytest.mark.django_db(transaction=True)
def test_two_never_charged_tries_reported_paid_together_are_reviewed(
    primary, recurring, monkeypatch
):
    first, second = _cancelled_with_two_never_charged_tries(primary, recurring)
    # The first webhook pauses in its transaction right after reading the
    # period's other tries; the second is reported meanwhile.
    read, go = threading.Event(), threading.Event()
    real = slots.period_charged_elsewhere

    def pausing(payment: Payment) -> Payment | None:
        other = real(payment)
        if payment.pk == first.pk:
            read.set()
            assert go.wait(10)
        return other

    monkeypatch.setattr(slots, "period_charged_elsewhere", pausing)
    errors: list = []
    one = _paid_webhook("ch_first", errors)
    assert read.wait(10)
    two = _paid_webhook("ch_second", errors)
    deadline = time.monotonic() + 5
    while two.is_alive() and not _waiting_on_a_lock():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    go.set()
    one.join(15)
    two.join(15)

    assert not errors, errors
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (PaymentStatus.CAPTURED,) * 2
    noted = Payment.objects.filter(
        pk__in=(first.pk, second.pk), notes__kind="recurring_charged_twice"
    )
    assert noted.count() == 1
