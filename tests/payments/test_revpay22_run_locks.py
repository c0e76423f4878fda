"""revpay22 review of pay22's run locks: a recurring run holds the velocity
locks a saved-method charge of its method takes while it stores its
payment (with or without an e-mail kept on the method), and never across
the gateway call: a screening of the same customer during the call goes
on at once."""

import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.utils import timezone

from payments import fraud, services
from payments.models import Payment, RecurringCharge
from payments.providers.sandbox import SandboxPaymentsAdapter

CUSTOMER = "cus_revpay22_locks"


def lock_free(method) -> bool:
    """Whether another session can take the velocity locks a screening of
    ``method``'s charge takes (tried, never waited for)."""
    statements = fraud.screening_statements(
        currency="EUR",
        customer_reference=method.customer_reference,
        customer_email=method.customer_email,
        ip_address=None,
        card_fingerprint="",
    )
    sql, keys = statements[0]
    assert "pg_advisory_xact_lock" in sql  # the lock comes first
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    result: list[bool] = []

    def probe() -> None:
        with psycopg.connect(**params) as other:  # its own transaction
            row = other.execute(
                "SELECT bool_and(pg_try_advisory_xact_lock(k)) FROM unnest(%s) k",
                [list(keys)],
            ).fetchone()
            result.append(bool(row[0]))

    worker = threading.Thread(target=probe)
    worker.start()
    worker.join(10)
    return result[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("email", ["ada@example.test", ""], ids=["email", "none"])
def test_the_run_holds_the_locks_while_storing_never_during_the_call(
    primary, settings, monkeypatch, email
):
    if connection.vendor != "postgresql":
        pytest.skip("the velocity lock is PostgreSQL's")
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 5
    method = services.payment_method_save(
        customer_reference=CUSTOMER,
        source_token="tok_success",
        idempotency_key="m1",
        customer_email=email,
    )
    RecurringCharge.objects.create(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    seen: dict[str, bool] = {}

    def storing(sender, instance, created, **kwargs):  # type: ignore[no-untyped-def]
        if created and "recurring_charge" in instance.metadata:
            seen["storing"] = lock_free(method)

    charge_saved = SandboxPaymentsAdapter.charge_saved

    def calling(self, request):  # type: ignore[no-untyped-def]
        seen["calling"] = lock_free(method)
        return charge_saved(self, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", calling)
    post_save.connect(storing, sender=Payment)
    try:
        assert services.recurring_charges_run() == 1
    finally:
        post_save.disconnect(storing, sender=Payment)

    assert seen == {"storing": False, "calling": True}
