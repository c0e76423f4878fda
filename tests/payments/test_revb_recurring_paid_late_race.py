"""A late "paid" webhook for a recurring slot's payment (failed as never
charged, its slot given back) handled while a recurring run claims that very
slot: both finish (no deadlock between the payment row and the recurring
row, taken in opposite orders before), and the period is charged once or
goes to review, never silently charged twice."""

import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client

from integrations.models import WebhookEvent
from payments.models import Payment, PaymentStatus, ReviewState
from payments.services import methods
from payments.services.methods import recurring_charges_report
from tests.payments.conftest import webhook_body, webhook_headers
from tests.payments.test_pay5_recurring_paid_late import (  # noqa: F401 (fixtures)
    _payments_of,
    lost,
    recurring,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting_on_a_lock() -> bool:
    # Another backend of this test database blocked on a row lock.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def _in_thread(target, errors: list, done: threading.Event) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_late_paid_webhook_during_the_run_neither_deadlocks_nor_charges_twice(
    primary,
    recurring,  # noqa: F811 (fixture)
    lost,  # noqa: F811 (fixture)
    monkeypatch,
):
    body = webhook_body("payment.captured", reference="ch_lost", amount=1_500)
    answers: list = []

    def paid() -> None:
        # The intake handles the event inline once stored.
        answers.append(
            Client()
            .post(
                "/webhooks/sbx-primary/",
                data=body,
                content_type="application/json",
                **webhook_headers(body),
            )
            .status_code
        )

    # The run pauses inside its claim (the recurring row claimed) while the
    # webhook is handled.
    claimed, go = threading.Event(), threading.Event()
    real = methods.nothing_charged
    paused = []

    def pausing(payment: Payment) -> bool:
        if not paused and threading.current_thread() is not main:
            paused.append(payment.pk)
            claimed.set()
            go.wait(10)
        return real(payment)

    main = threading.current_thread()
    monkeypatch.setattr(methods, "nothing_charged", pausing)
    errors: list = []
    run_done, hook_done = threading.Event(), threading.Event()
    runs: list = []
    run = _in_thread(lambda: runs.append(recurring_charges_report()), errors, run_done)
    assert claimed.wait(10)
    hook = _in_thread(paid, errors, hook_done)
    deadline = time.monotonic() + 5
    while not hook_done.is_set() and not _waiting_on_a_lock():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    go.set()
    run.join(15)
    hook.join(15)

    assert not errors, errors
    assert answers == [200]
    event = WebhookEvent.objects.get(event_type="payment.captured")
    assert event.status == "processed", (event.status, event.last_error)
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    others = [p for p in _payments_of(recurring) if p.pk != lost.pk]
    # Charged again by the run: the late payment is in review for a refund.
    if others:
        assert lost.review_state == ReviewState.PENDING
        assert lost.notes.filter(kind="recurring_charged_twice").exists()
    else:
        assert runs[0].charged == 0
