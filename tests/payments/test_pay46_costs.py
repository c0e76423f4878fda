"""pay46: what a payment through the API costs in Python work, on counts
that do not depend on the machine's load."""

import cProfile
import pstats
import sys

import pytest

# The bench's body (bench/bench_payments.py): every field a storefront sends.
BODY = {
    "order_id": "order-1001",
    "amount": 1050,
    "currency": "EUR",
    "source_token": "tok_success",
    "capture": True,
    "customer_reference": "cust-42",
    "customer_email": "ada@example.com",
}


def _calls(function, *args, **kwargs) -> int:
    function(*args, **kwargs)  # warm: bound once per thread
    profile = cProfile.Profile()
    profile.runcall(function, *args, **kwargs)
    return pstats.Stats(profile).total_calls


def test_a_plain_create_body_is_validated_in_few_calls() -> None:
    # DRF's walk: ~30 Python calls a field, 422 for this body (gateway
    # limits and the currency check included); plain_bodies checks inline.
    from payments.serializers import payment_create_validated

    body = {**BODY, "metadata": {"cart": "c-77", "note": " kept "}}
    calls = _calls(payment_create_validated, body, enabled_providers={"sandbox"})
    assert calls <= 115, calls  # 126, 112 with the adapters looked up once


def test_the_gateways_adapters_are_looked_up_once_per_body(monkeypatch) -> None:
    # The gateway limits, the source format and the saved-method id check
    # each looked every enabled provider's adapter up again (~8 calls each).
    from integrations import registry
    from payments.serializers import payment_create_validated

    looked_up: list[str] = []
    original = registry.get_adapter_class

    def counting(kind: str, provider: str) -> type:
        looked_up.append(provider)
        return original(kind, provider)

    monkeypatch.setattr(registry, "get_adapter_class", counting)
    payment_create_validated(BODY, enabled_providers={"sandbox", "stripe"})
    assert sorted(looked_up) == ["sandbox", "stripe"]


def ignore_event(event) -> None:
    """A subscriber that does nothing: the payment's event gets a delivery."""


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_the_outbox_hook_takes_the_groups_connection(
    api, primary, monkeypatch, settings
) -> None:
    # transaction.on_commit looked the connection up again (~7 Python
    # calls); the commit group holds it.
    from django.db import transaction

    from integrations import events
    from tests.payments.test_pay44_costs import create_payment_via_api

    subscriber = f"{__name__}.ignore_event"
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {"payment.*": [subscriber]}
    enqueued: list[list[int]] = []
    monkeypatch.setattr(events, "_enqueue", lambda ids, cid="": enqueued.append(ids))
    looked_up: list[str] = []
    original = transaction.get_connection

    def counting(using=None):
        looked_up.append(sys._getframe(1).f_code.co_name)
        return original(using)

    monkeypatch.setattr(transaction, "get_connection", counting)
    response = create_payment_via_api(api)
    assert response.status_code == 201, response.content
    assert len(enqueued) == 1 and len(enqueued[0]) == 1  # still handed on
    assert "on_commit" not in looked_up
