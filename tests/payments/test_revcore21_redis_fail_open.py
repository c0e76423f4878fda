"""Redis black-holed, the gateways up: the shop keeps selling. The API
throttle falls back to this process's own window, the breaker counts as
closed and the limiter does not pace, so a payment is 201 within the Redis
timeout's bound, and an idempotent retry is never charged twice (the
idempotency record is PostgreSQL's, not Redis's)."""

import copy
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from integrations import redis_line
from integrations.breaker.store import forget_recent
from payments.models import Payment
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.integrations.redis_black_holes import Silent, Unaccepting, timed, watched

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

URL = "/api/v1/payments/"
REAL_CACHES = copy.deepcopy(django_settings.CACHES)


@pytest.fixture(params=["silent", "unaccepting"])
def hole(request, settings) -> Iterator[Any]:
    made = Silent() if request.param == "silent" else Unaccepting()
    settings.CACHES = {"default": {**REAL_CACHES["default"], "LOCATION": made.url}}
    forget_recent()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def charges(monkeypatch) -> list[Any]:
    made: list[Any] = []
    create = SandboxPaymentsAdapter._create

    def counted(adapter: Any, request: Any) -> Any:
        made.append(request)
        return create(adapter, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "_create", counted)
    return made


def _bound(hole: Any) -> float:
    # One timeout for the throttle, then the pause: nothing else waits.
    if isinstance(hole, Silent):
        return 3 * django_settings.REDIS_SOCKET_TIMEOUT_SECONDS
    return 3 * django_settings.REDIS_CONNECT_TIMEOUT_SECONDS


def _pay(api: Any, key: str, order_id: str = "order-rc21") -> Any:
    return api.post(
        URL,
        {
            "order_id": order_id,
            "amount": 1050,
            "currency": "EUR",
            "source_token": "tok_success",
        },
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.mark.parametrize(
    "limits", [{}, {"max_concurrency": 2, "rate_limit_per_second": 5}]
)
def test_a_payment_is_made_while_redis_is_black_holed(
    api, primary, hole, charges, limits, caplog
):
    primary.settings = limits
    primary.save()
    caplog.set_level(logging.INFO, logger=redis_line.logger.name)
    key = uuid.uuid4().hex
    with watched(hole):
        took, response = timed(lambda: _pay(api, key))
        assert not isinstance(response, Exception), response
        assert response.status_code == 201, response.json()
        assert took < _bound(hole), f"{took:.1f} s"
        again = _pay(api, key)
    if isinstance(hole, Silent):
        assert hole.accepted == 1  # one timeout, then the pause: not asked again
    # The retry answers the same payment: one charge at the gateway.
    assert again.status_code in (200, 201), again.json()
    assert again.json()["id"] == response.json()["id"]
    assert len(charges) == 1
    assert Payment.objects.count() == 1
    warnings = [
        r
        for r in caplog.records
        if r.name == redis_line.logger.name and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1, warnings


def test_the_throttle_still_limits_a_key_in_the_outage(api, primary, hole, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_key": "2/min"}
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": rates,
    }
    with watched(hole):
        codes = [
            _pay(api, uuid.uuid4().hex, f"order-rc21-{n}").status_code for n in range(3)
        ]
    assert codes == [201, 201, 429]
