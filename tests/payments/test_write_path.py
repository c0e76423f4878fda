"""The lighter write path (docs/payments.md, "The write path"): what one API
payment sends to the database, and the rare paths its shortcuts take."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.events import subscribers_for
from integrations.models import Event, IdempotencyRecord
from payments.models import Payment, PaymentAttempt, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.state import Change, advance

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
    # auth, claim, enabled accounts, velocity lock, screening, payment,
    # attempt | attempt result with the payment, event + deliveries with the
    # response. (Recorded, none rides ahead: on the real path the lock and the
    # screening go in the claim's round trip, test_perf_round_trips.)
    assert len(statements) <= 9, statements
    assert not [s for s in statements if "SAVEPOINT" in s or "FOR UPDATE" in s]
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


def test_the_rows_of_a_payment(api, primary):
    """What the hand-built statements write is what the ORM wrote: defaults,
    timestamps, JSON, the attempt's result, the event with its deliveries and
    the stored response (on PostgreSQL, sent with the group's commit)."""
    key = uuid.uuid4().hex
    data = body(customer_email="a@b.example", metadata={"cart": "c-7"})
    response = post(api, key, data)
    assert response.status_code == 201
    payment = Payment.objects.get(public_id=response.json()["id"])
    assert payment.public_id.startswith("pay_")
    assert (payment.status, payment.amount_captured) == ("captured", 1050)
    assert payment.metadata == {"cart": "c-7"} and payment.risk_reasons == []
    assert payment.account == primary and payment.provider_reference
    assert payment.created_at <= payment.updated_at
    assert payment.idempotency_key.endswith(f":{key}")
    attempt = PaymentAttempt.objects.get(payment=payment)
    assert attempt.outcome == "succeeded" and attempt.finished_at is not None
    assert attempt.provider_reference == payment.provider_reference
    assert attempt.idempotency_key == f"{payment.public_id}-a{primary.pk}"
    event = Event.objects.get(subject=f"payment:{payment.public_id}")
    assert event.name == "payment.captured"
    assert event.payload["amount_captured"] == 1050
    assert event.deliveries.count() == len(subscribers_for("payment.captured"))
    record = IdempotencyRecord.objects.get(key=key)
    assert record.state == "completed" and record.completed_at is not None
    assert record.response_status == 201 and record.response_body == response.json()
    # The replay answers from it, with no second charge.
    again = post(api, key, data)
    assert again.json() == response.json() and again["Idempotent-Replayed"] == "true"
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def test_a_stale_copy_takes_the_lock(primary):
    """advance without a lock writes only while the row still holds what the
    caller's copy holds; a row changed meanwhile (a webhook) takes the lock
    and the full path, with one event."""
    payment = Payment.objects.create(
        order_id="o-1", amount=1050, currency="EUR", idempotency_key="k-1"
    )
    # A webhook moved it first: the copy above is stale.
    Payment.objects.filter(pk=payment.pk).update(
        status="authorized", amount_authorized=1050, updated_at=timezone.now()
    )
    row = advance(payment, Change(status="captured", captured=1050))
    assert (row.status, row.amount_authorized, row.amount_captured) == (
        "captured",
        1050,
        1050,
    )
    fresh = Payment.objects.get(pk=payment.pk)
    assert (fresh.status, fresh.amount_captured) == ("captured", 1050)
    assert Event.objects.filter(name="payment.captured").count() == 1
    # A move the locked row does not allow is refused, not written blind.
    assert advance(payment, Change(status="authorized")).status == "captured"
    assert Payment.objects.get(pk=payment.pk).status == "captured"


@pytest.mark.parametrize(
    "data",
    [
        body(),
        body(currency="eur", metadata={"a": "b"}, customer_email="a@b.example"),
        {},
        None,
        [body()],
        body(amount="ten"),
        body(currency="XXY", amount=-1),
        body(metadata={f"k{n}": "v" for n in range(60)}),
        body(source_token="not-a-sandbox-token", capture="maybe"),
    ],
)
def test_the_shared_request_validator_answers_as_a_fresh_serializer(data):
    from rest_framework.exceptions import ValidationError

    from payments.serializers import PaymentCreateSerializer, payment_create_validated

    context = {"enabled_providers": {"sandbox", "stripe"}}
    fresh = PaymentCreateSerializer(data=data, context=context)
    for _ in range(2):  # the second call reuses the bound serializer
        if fresh.is_valid():
            got = payment_create_validated(data, **context)
            assert got == fresh.validated_data
            continue
        with pytest.raises(ValidationError) as raised:
            payment_create_validated(data, **context)
        assert raised.value.detail == fresh.errors
        assert raised.value.get_codes() == ValidationError(fresh.errors).get_codes()


def _sandbox_request(token: str, key: str = "k-1", **changes):
    from payments.providers.base import PaymentRequest

    fields = {"amount": 1050, "currency": "EUR", "source_token": token}
    fields.update({"capture": True, "idempotency_key": key, "order_id": "o-1"})
    return PaymentRequest(**{**fields, **changes})


def test_the_sandbox_answers_a_repeated_key_as_before(primary):
    """A new key costs the sandbox one INSERT; a repeated one answers as the
    charge it made (the same token), a conflict (another token, even one that
    declines), or the charge again where its token would now be refused."""
    from integrations import registry
    from integrations.errors import Rejected

    adapter = registry.get_adapter(primary)
    first = adapter.authorize(_sandbox_request("tok_success"))
    assert adapter.authorize(_sandbox_request("tok_success")) == first
    for token in ("tok_visa", "tok_decline", "tok_server_error"):
        with pytest.raises(Rejected) as refused:
            adapter.authorize(_sandbox_request(token))
        assert refused.value.code == "idempotency_conflict"
    with pytest.raises(Rejected) as refused:
        adapter.authorize(_sandbox_request("tok_success", amount=1))
    assert refused.value.code == "idempotency_conflict"
    action = adapter.authorize(_sandbox_request("tok_3ds_required", key="k-3ds"))
    again = adapter.authorize(
        _sandbox_request("tok_3ds_required", key="k-3ds", off_session=True)
    )
    assert again == action
    with pytest.raises(Rejected) as refused:
        adapter.authorize(_sandbox_request("tok_decline", key="k-new"))
    assert refused.value.code == "card_declined"
    assert SandboxCharge.objects.filter(kind="payment").count() == 2


def _record_statements(api, key: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = post(api, key, body(order_id=key))
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "captured"
    return [s for s in ours(captured.captured_queries) if "idempotencyrecord" in s]


def test_a_capture_after_authorize_adds_no_write_to_the_idempotency_record(
    api, primary, monkeypatch
):
    # A gateway that captures in a second call (Square): the create's own
    # capture notes nothing on the record (its writes roll back with it).
    post(api, uuid.uuid4().hex)  # warm-up
    one_call = _record_statements(api, uuid.uuid4().hex)
    monkeypatch.setattr(SandboxPaymentsAdapter, "capture_after_authorize", True)
    two_calls = _record_statements(api, uuid.uuid4().hex)
    assert one_call  # the record's claim and completion were captured
    assert len(two_calls) == len(one_call), (one_call, two_calls)
