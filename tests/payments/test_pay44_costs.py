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
