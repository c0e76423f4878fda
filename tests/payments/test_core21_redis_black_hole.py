"""The payments API with Redis black-holed (dropped packets): the payment is
made (fail open, revcore21) within the configured Redis timeout (not the
OS's TCP timeout, nor one wait per Redis call); while the outage lasts the
next requests go through at once without asking Redis, and the outage is
one warning, not one per request. The bounds are generous (3x the
timeout): speed figures belong to bench/."""

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
from tests.integrations.redis_black_holes import Silent, Unaccepting, timed, watched

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

URL = "/api/v1/payments/"
# The suite's own Redis cache, as configured (the fixtures move it).
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


def _bound(hole: Any) -> float:
    if isinstance(hole, Silent):
        return 3 * django_settings.REDIS_SOCKET_TIMEOUT_SECONDS
    return 3 * django_settings.REDIS_CONNECT_TIMEOUT_SECONDS


def _pay(api: Any) -> Any:
    return api.post(
        URL,
        {
            "order_id": f"order-{uuid.uuid4().hex[:8]}",
            "amount": 1050,
            "currency": "EUR",
            "source_token": "tok_success",
        },
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def _outage_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == redis_line.logger.name]


def test_a_payment_is_made_within_the_timeout(api, primary, hole):
    with watched(hole):
        took, response = timed(lambda: _pay(api))
    assert not isinstance(response, Exception), response
    assert took < _bound(hole), f"{took:.1f} s"
    assert response.status_code == 201, response.json()
    assert Payment.objects.get().provider_reference


def test_the_outage_is_not_waited_for_again_per_request(api, primary, hole, caplog):
    caplog.set_level(logging.INFO, logger=redis_line.logger.name)
    with watched(hole):
        assert _pay(api).status_code == 201
        tried = getattr(hole, "accepted", None)
        for _ in range(3):
            took, response = timed(lambda: _pay(api))
            assert response.status_code == 201
            assert took < _bound(hole), f"{took:.1f} s"
    if tried is not None:
        assert hole.accepted == tried  # Redis not asked again in the pause
    lines = _outage_lines(caplog)
    assert [r.levelno for r in lines] == [logging.WARNING], lines


def test_payments_go_through_again_once_redis_answers(
    api, primary, hole, settings, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger=redis_line.logger.name)
    with watched(hole):
        assert _pay(api).status_code == 201
    settings.CACHES = copy.deepcopy(REAL_CACHES)
    forget_recent()
    later = redis_line.time.monotonic() + redis_line.OUTAGE_PAUSE_SECONDS
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later + 1)
    response = _pay(api)
    assert response.status_code == 201, response.json()
    assert [r.levelno for r in _outage_lines(caplog)] == [
        logging.WARNING,
        logging.INFO,
    ]
