"""pay22: a recurring run's payment names the saved method it charged, and
is stored under the same velocity locks a saved-method charge takes: the
run is not screened (merchant-initiated), but a charge screened while the
run's payment is being stored waits for it and counts it."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.utils import timezone

from payments import services
from payments.models import Payment, RecurringCharge, SavedPaymentMethod
from tests.pg import on_a_lock_wait

CUSTOMER = "cus_pay22_run"


def saved(key: str = "m1") -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference=CUSTOMER,
        source_token="tok_success",
        idempotency_key=key,
        customer_email="ada@example.test",
    )


def due(method: SavedPaymentMethod) -> RecurringCharge:
    return RecurringCharge.objects.create(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )


@pytest.mark.django_db
def test_a_run_payment_names_its_saved_method(primary):
    method = saved()
    recurring = due(method)
    assert services.recurring_charges_run() == 1
    recurring.refresh_from_db()
    assert recurring.last_payment.saved_method_id == method.pk
    # Still unscreened: merchant-initiated (docs/payments.md).
    assert recurring.last_payment.risk_score is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_charge_screened_while_a_run_stores_its_payment_counts_it(primary, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the velocity lock is PostgreSQL's")
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    method = saved()
    due(method)
    inside, go = threading.Event(), threading.Event()

    def hold_open(sender, instance, created, **kwargs):  # type: ignore[no-untyped-def]
        # The run's payment is stored, its transaction not committed yet.
        if created and "recurring_charge" in instance.metadata:
            inside.set()
            go.wait(10)

    results: dict[str, object] = {}

    def run(name, call):  # type: ignore[no-untyped-def]
        try:
            results[name] = call()
        except Exception as exc:  # reported by the assertions
            results[name] = exc
        finally:
            connection.close()

    post_save.connect(hold_open, sender=Payment)
    try:
        runner = threading.Thread(
            target=run, args=("run", services.recurring_charges_run)
        )
        runner.start()
        assert inside.wait(10)
        with on_a_lock_wait(go.set):
            charger = threading.Thread(
                target=run,
                args=(
                    "charge",
                    lambda: services.saved_method_charge(
                        saved_method=method,
                        amount=1_000,
                        currency="EUR",
                        order_id="order-pay22",
                        idempotency_key="k-pay22",
                    ),
                ),
            )
            charger.start()
            charger.join(30)
    finally:
        go.set()
        runner.join(30)
        post_save.disconnect(hold_open, sender=Payment)
    assert results["run"] == 1, results
    charge = results["charge"]
    assert isinstance(charge, Payment), results
    # The run's payment was counted: the cap of one was reached.
    assert charge.risk_reasons == ["velocity_customer"]
