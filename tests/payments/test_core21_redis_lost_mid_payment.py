"""Redis black-holed while a payment runs (the API's throttle passed, or a
task): the provider client's gate, which reads the breaker and reserves the
rate limit there, lets the attempt go out unguarded (fail open, revcore21),
so the payment is made within the timeout; Redis lost after a gateway
answered loses the breaker's count, never the payment's outcome."""

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from integrations.breaker.store import forget_recent
from payments import services
from payments.models import Payment, PaymentStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.integrations.redis_black_holes import Silent, Unaccepting, timed, watched

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

REAL_CACHES = copy.deepcopy(django_settings.CACHES)


@pytest.fixture(params=["silent", "unaccepting"])
def hole(request) -> Iterator[Any]:
    made = Silent() if request.param == "silent" else Unaccepting()
    try:
        yield made
    finally:
        made.close()


def _black_hole_caches(hole: Any) -> dict:
    return {"default": {**REAL_CACHES["default"], "LOCATION": hole.url}}


def _bound(hole: Any) -> float:
    if isinstance(hole, Silent):
        return 3 * django_settings.REDIS_SOCKET_TIMEOUT_SECONDS
    return 3 * django_settings.REDIS_CONNECT_TIMEOUT_SECONDS


def _create(order_id: str = "order-core21") -> Payment:
    return services.payment_create(
        order_id=order_id,
        amount=1050,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=f"key-{order_id}",
    )


def test_a_payment_is_made_within_the_timeout(primary, secondary, hole, settings):
    settings.CACHES = _black_hole_caches(hole)
    forget_recent()
    with watched(hole):
        took, outcome = timed(_create)
    assert isinstance(outcome, Payment), outcome
    # One timeout, then the pause: not one per Redis call.
    assert took < _bound(hole), f"{took:.1f} s"
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.provider_reference


@pytest.mark.parametrize("limits", [{}, {"max_concurrency": 2}])
def test_redis_lost_after_the_gateway_answered_keeps_the_payment(
    limits, primary, hole, settings, monkeypatch
):
    # With a concurrency cap the slot is released after the answer, too.
    primary.settings = limits
    primary.save()
    # Inside the client's call: the gateway's answer, then no Redis.
    create = SandboxPaymentsAdapter._create

    def answered_then_redis_lost(adapter: Any, request: Any) -> Any:
        result = create(adapter, request)
        settings.CACHES = _black_hole_caches(hole)
        forget_recent()
        return result

    monkeypatch.setattr(SandboxPaymentsAdapter, "_create", answered_then_redis_lost)
    with watched(hole):
        took, outcome = timed(_create)
    assert isinstance(outcome, Payment), outcome
    # Charged at the gateway: recorded as such (the capture's own gate then
    # finds Redis gone: the capture is owed, done later).
    payment = Payment.objects.get()
    assert payment.provider_reference
    assert payment.status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED)
    assert took < _bound(hole) + 1, f"{took:.1f} s"
