"""pay44: ``integrations.row_new`` builds the instance ``Model(**values)``
builds (same attributes, same cached relations, same signals) for the
payment path's models, in a fraction of the Python calls."""

import cProfile
import pstats
from typing import Any

import pytest
from django.db.models.signals import post_init, pre_init

from integrations.models import Event, IdempotencyRecord
from integrations.row_new import row_new
from payments.models import Payment, PaymentAttempt, SandboxCharge
from tests.factories import ProviderAccountFactory
from tests.integrations.row_compare import comparable

pytestmark = pytest.mark.django_db


def _payment_values(account: Any) -> dict[str, Any]:
    return {
        "order_id": "o-1",
        "amount": 1050,
        "currency": "EUR",
        "capture_requested": True,
        "customer_reference": "c",
        "customer_email": "a@example.com",
        "metadata": {"cart": "1"},
        "ip_address": None,
        "idempotency_key": "k-1",
        "risk_score": 3,
        "risk_level": "low",
        "risk_reasons": [],
        "review_state": "none",
        "account": account,
    }


def _cases(account: Any) -> list[tuple[type, dict[str, Any]]]:
    payment = Payment.objects.create(
        order_id="o-0", amount=1, currency="EUR", idempotency_key="k-0"
    )
    return [
        (Payment, _payment_values(account)),
        (Payment, {"order_id": "o-2", "amount": 5, "currency": "JPY"}),
        (
            PaymentAttempt,
            {
                "payment": payment,
                "account": account,
                "operation": "authorize",
                "idempotency_key": "k",
                "provider_reference": "",
            },
        ),
        (
            IdempotencyRecord,
            {"owner": "o", "key": "k", "method": "POST", "path": "/", "state": "x"},
        ),
        (Event, {"name": "payment.captured", "subject": "s", "payload": {"a": 1}}),
        (
            SandboxCharge,
            {"account": account, "idempotency_key": "k", "kind": "charge"},
        ),
    ]


def test_the_instance_is_the_constructors():
    account = ProviderAccountFactory(slug="row-new")
    for model, values in _cases(account):
        built, fast = model(**dict(values)), row_new(model, **dict(values))
        assert type(fast) is model
        assert comparable(fast) == comparable(built), model.__name__


def test_callable_defaults_are_called_per_instance():
    first, second = row_new(Payment, order_id="a"), row_new(Payment, order_id="b")
    assert first.public_id != second.public_id
    assert first.metadata == {} and first.metadata is not second.metadata


def test_signals_are_sent_as_django_sends_them():
    seen: list[tuple[str, Any]] = []

    def before(sender: Any, **kwargs: Any) -> None:
        seen.append(("pre", kwargs["kwargs"]["order_id"]))

    def after(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(("post", instance.order_id))

    pre_init.connect(before, sender=Payment)
    post_init.connect(after, sender=Payment)
    try:
        row_new(Payment, order_id="signalled")
    finally:
        pre_init.disconnect(before, sender=Payment)
        post_init.disconnect(after, sender=Payment)
    assert seen == [("pre", "signalled"), ("post", "signalled")]


def test_an_unknown_name_is_refused_as_the_constructor_refuses_it():
    with pytest.raises(TypeError, match="unexpected keyword"):
        row_new(Payment, no_such_field=1)


def test_a_payment_costs_a_fraction_of_the_constructors_calls():
    account = ProviderAccountFactory(slug="row-new-cost")
    values = _payment_values(account)
    row_new(Payment, **values)  # its table, once

    def calls(build: Any) -> float:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(100):
            build(Payment, **values)
        profile.disable()
        return pstats.Stats(profile).total_calls / 100

    fast, slow = calls(row_new), calls(lambda model, **kw: model(**kw))
    assert fast <= 40 and fast * 3 < slow, (fast, slow)
