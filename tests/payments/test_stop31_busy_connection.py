"""A worker stopped (gunicorn's timeout raises SystemExit anywhere) while
psycopg was reading an answer leaves that answer unread on the connection:
psycopg cancels the query only when the stop lands in its wait. The
idempotency record's abandon then failed ("another command is already in
progress"), the stop turned into a database error and the record stayed in
flight, so the storefront's retry waited out the in-flight timeout."""

import uuid

import pytest
from django.db import connection

from integrations.models import IdempotencyRecord
from payments import api as payments_api

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/payments/"


def _busy_then_stopped(*args, **kwargs):
    connection.ensure_connection()
    connection.connection.pgconn.send_query(b"SELECT pg_sleep(0.05)")
    raise SystemExit(1)


def test_a_stop_leaving_the_connection_busy_abandons_the_record(
    api, primary, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL connection left busy")
    created = api.post(
        URL,
        {
            "order_id": "o-31",
            "amount": 1000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": False,
        },
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert created.status_code == 201, created.content
    monkeypatch.setattr(payments_api.services, "payment_capture", _busy_then_stopped)

    with pytest.raises(SystemExit):
        api.post(
            f"{URL}{created.json()['id']}/capture/", {}, HTTP_IDEMPOTENCY_KEY="c-31"
        )

    record = IdempotencyRecord.objects.get(key="c-31")
    assert record.state == IdempotencyRecord.State.ABANDONED


def test_a_stop_in_the_gateway_call_leaving_the_connection_busy(
    api, primary, monkeypatch
):
    """The create path (claim, attempt and payment in shared commits): as
    for a stop on an idle connection, the stop propagates as itself, the
    payment is kept pending (its attempt in doubt, for reconciliation) and
    the key is not left in flight."""
    from payments.models import Payment
    from payments.providers.sandbox import SandboxPaymentsAdapter

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL connection left busy")
    monkeypatch.setattr(SandboxPaymentsAdapter, "authorize", _busy_then_stopped)

    with pytest.raises(SystemExit):
        api.post(
            URL,
            {
                "order_id": "o-32",
                "amount": 1000,
                "currency": "EUR",
                "source_token": "tok_success",
            },
            HTTP_IDEMPOTENCY_KEY="p-32",
        )

    payment = Payment.objects.get(order_id="o-32")
    assert payment.status == "pending"
    assert not IdempotencyRecord.objects.filter(
        key="p-32", state=IdempotencyRecord.State.IN_FLIGHT
    ).exists()


def test_a_stop_in_a_saved_card_charge_leaving_the_connection_busy(
    primary, monkeypatch
):
    """The recurring run's saved-card charge: the stop propagates as itself
    and the payment is marked in doubt (its attempt was stored before the
    call), as for a stop on an idle connection."""
    from datetime import timedelta

    from django.utils import timezone

    from payments import services, tasks
    from payments.models import Payment, RecurringCharge
    from payments.providers.sandbox import SandboxPaymentsAdapter

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL connection left busy")
    method = services.payment_method_save(
        customer_reference="cus_31", source_token="tok_success", idempotency_key="m31"
    )
    RecurringCharge.objects.create(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", _busy_then_stopped)

    with pytest.raises(SystemExit):
        tasks.run_recurring_charges()

    assert Payment.objects.get().status == "unknown"
