"""The lighter write path (docs/payments.md, "The write path"): what one API
payment sends to the database, and the rare paths its shortcuts take."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import Event, IdempotencyRecord
from payments.models import Payment, SandboxCharge

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/payments/"
# Written by the gateway (the in-process sandbox) or the call log, not by us.
_NOT_OURS = ("payments_sandbox", "integrations_providercall")


def body(**overrides: object) -> dict:
    values = {"order_id": "order-7", "amount": 1050, "currency": "EUR"}
    values.update({"source_token": "tok_success", "capture": True, **overrides})
    return values


def post(api, key: str, data: dict | None = None):
    return api.post(URL, data or body(), format="json", HTTP_IDEMPOTENCY_KEY=key)


def ours(queries: list[dict]) -> list[str]:
    """The statements of the payment's own path (no BEGIN/COMMIT, no gateway)."""
    sqls = [q["sql"] for q in queries]
    return [
        sql
        for sql in sqls
        if sql not in ("BEGIN", "COMMIT")
        and not any(table in sql for table in _NOT_OURS)
    ]


# Without Redis the throttle and breaker keep their state in a database cache
# table: the count is about the payment's own statements.
@pytest.mark.redis
@pytest.mark.postgres
def test_a_payment_sends_a_short_list_of_statements(api, primary):
    post(api, uuid.uuid4().hex)  # warm-up: the key's last-used time, caches
    with CaptureQueriesContext(connection) as captured:
        response = post(api, uuid.uuid4().hex, body(customer_email="a@b.example"))
    assert response.status_code == 201
    statements = ours(captured.captured_queries)
    # auth, claim, gateway limits, screening, payment, accounts, attempt |
    # attempt result, lock, payment, event, deliveries, response.
    assert len(statements) <= 13, statements
    assert not [s for s in statements if "SAVEPOINT" in s]
    # The outbox event is still written, with the payment's change.
    assert Event.objects.filter(
        name="payment.captured", subject=f"payment:{response.json()['id']}"
    ).exists()


def test_a_key_whose_record_is_gone_finds_its_payment(api, primary):
    """The payment's INSERT conflicts (its idempotency record was purged, or
    a crashed request left the payment): the same payment, no second charge."""
    key = uuid.uuid4().hex
    first = post(api, key)
    assert first.status_code == 201
    IdempotencyRecord.objects.all().delete()
    again = post(api, key)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "captured"
    # And once more: the answer stays the same, the charge single.
    assert post(api, key).json()["id"] == first.json()["id"]
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.filter(kind="payment").count() == 1
    # A new key is a new payment: the rolled-back claim left nothing behind.
    assert post(api, uuid.uuid4().hex).json()["id"] != first.json()["id"]
