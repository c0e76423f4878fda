"""pay44: what a payment through the API costs in Python work, on counts
that do not depend on the machine's load."""

import uuid
from typing import Any

import pytest
from django.db.models import Model

pytestmark = pytest.mark.django_db(transaction=True)

# The rows a payment writes: built for their hand-built INSERT, not through
# Django's keyword constructor (~5 Python calls a field).
WRITTEN = {"Payment", "PaymentAttempt", "IdempotencyRecord", "Event", "SandboxCharge"}


def create_payment_via_api(api: Any) -> Any:
    return api.post(
        "/api/v1/payments/",
        {
            "order_id": f"o-{uuid.uuid4().hex[:8]}",
            "amount": 1050,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": True,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def test_the_payment_rows_are_not_built_by_the_keyword_constructor(
    api, primary, monkeypatch
):
    create_payment_via_api(api)  # warm: tables read once per process
    built: list[str] = []
    original = Model.__init__

    def counting(self: Model, *args: Any, **kwargs: Any) -> None:
        if kwargs:
            built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Model, "__init__", counting)
    response = create_payment_via_api(api)
    assert response.status_code == 201, response.content
    assert WRITTEN.isdisjoint(built), built


def test_the_screening_inputs_are_worked_out_once_per_payment(
    api, primary, monkeypatch
):
    # The reads sent ahead with the idempotency claim and the screening
    # itself worked out the same inputs and statement twice (~85 calls).
    from payments import fraud

    create_payment_via_api(api)
    seen: list[str] = []
    original = fraud._inputs

    def counting(*args: Any) -> Any:
        seen.append(args[2])
        return original(*args)

    monkeypatch.setattr(fraud, "_inputs", counting)
    response = api.post(
        "/api/v1/payments/",
        {
            "order_id": "o-screened",
            "amount": 1050,
            "currency": "EUR",
            "source_token": "tok_success",
            "customer_reference": "cust-1",
            "customer_email": "ada@example.com",
            "ip_address": "203.0.113.9",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 201, response.content
    assert seen == ["ada@example.com"]
