"""The scheduled recurring task's result is the run's report (charged,
unknown, declined, retry, held, failed, and the failures' lines), so operators
read it in the admin's task result."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.tasks import async_task
from django_q.tasks import result as task_result

from payments import services, tasks
from payments.models import RecurringCharge, SavedPaymentMethod
from payments.providers.sandbox import SandboxPaymentsAdapter

pytestmark = pytest.mark.django_db


def _monthly(method: SavedPaymentMethod, *, amount: int, currency: str):
    return RecurringCharge.objects.create(
        saved_method=method,
        amount=amount,
        currency=currency,
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )


def test_the_recurring_task_result_carries_the_runs_report(primary, monkeypatch):
    charged = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    lost = services.payment_method_save(
        customer_reference="cus_2", source_token="tok_timeout", idempotency_key="m2"
    )
    declined = services.payment_method_save(
        customer_reference="cus_3",
        source_token="tok_3ds_required",
        idempotency_key="m3",
    )
    for method in (charged, lost, declined):
        _monthly(method, amount=1_500, currency="EUR")

    report = tasks.run_recurring_charges()

    assert report == {
        "charged": 1,
        "unknown": 1,
        "declined": 1,
        "retry": 0,
        "held": 0,
        "held_charges": [],
        "failed": 0,
        "errors": [],
    }


def test_a_fault_of_ours_is_counted_failed_in_the_task_result(primary, monkeypatch):
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    recurring = _monthly(method, amount=1_500, currency="EUR")

    def broken(self, request):
        raise RuntimeError("bug in our request code")

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", broken)
    report = tasks.run_recurring_charges()

    assert (report["charged"], report["failed"]) == (0, 1)
    [line] = report["errors"]
    assert line.startswith(f"{recurring.public_id}: RuntimeError: ")


def test_the_report_is_what_the_task_queue_stores_as_the_result(primary, settings):
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    _monthly(method, amount=1_500, currency="EUR")

    task_id = async_task("payments.tasks.run_recurring_charges", sync=True)

    stored = task_result(task_id)
    assert stored["charged"] == 1 and stored["failed"] == 0
    # The command still prints its summary line.
    out = StringIO()
    call_command("run_recurring_charges", stdout=out)
    assert out.getvalue().strip() == "Charged 0 recurring charge(s)."
