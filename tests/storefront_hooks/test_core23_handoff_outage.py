"""The slot hand-on (``services.handoff``) while Redis cannot be reached: it
obeys the one outage record (``redis_line.outage``). In a noted outage a
finished delivery does not ask Redis for the endpoint's slot-waiters flag
(each ask costs a dropped network its timeout per delivery) and logs
nothing of its own; an outage it meets is noted there, one warning for all.
A row waiting for a slot is then not handed on: it goes out on its turn
(the in-flight cap is not held in an outage)."""

import logging
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings

from integrations import redis_line
from integrations.ratelimit import limiter_for
from integrations.redis_line import outage
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import handoff
from storefront_hooks.transport import endpoint_client
from tests.integrations.test_revcore20_webhook_clock_outage import ClosingPort
from tests.storefront_hooks.cap_setup import enqueued, made_row_id
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

CAP = 1
DELIVERIES = 4


@pytest.fixture
def broker(monkeypatch) -> list[int]:
    return enqueued(monkeypatch)


@pytest.fixture
def held(settings, make_endpoint, receiver, broker):
    """A capped endpoint and a row its cap held back (Redis up): the row
    waits for a slot and the endpoint's flag says so."""
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint = make_endpoint()[0]
    row = made_row_id(endpoint)
    endpoint_client(endpoint)  # the cap on the loaded account, as a delivery has
    with limiter_for(endpoint.account).concurrency_slot():
        assert services.delivery_send(delivery_id=row) == "pending"
    assert WebhookDelivery.objects.get(pk=row).waits_for_slot is True
    return endpoint, row


@pytest.fixture
def dying_redis(settings) -> Iterator[ClosingPort]:
    port = ClosingPort()
    location = f"redis://127.0.0.1:{port.port}/0"
    settings.CACHES = {
        "default": {**django_settings.CACHES["default"], "LOCATION": location}
    }
    outage.forget()
    try:
        yield port
    finally:
        port.close()
        outage.forget()


@pytest.fixture
def hand_ons(monkeypatch) -> list[float]:
    """How long each finished delivery's hand-on took."""
    took: list[float] = []
    freed = handoff.slot_freed

    def timed(endpoint) -> None:
        start = redis_line.time.monotonic()
        try:
            freed(endpoint)
        finally:
            took.append(redis_line.time.monotonic() - start)

    monkeypatch.setattr(handoff, "slot_freed", timed)
    return took


def test_in_a_noted_outage_redis_is_not_asked(held, dying_redis, hand_ons, caplog):
    endpoint, waiting = held
    outage.failed(redis_line.RedisConnectionError("dropped"))  # a payment's gate
    caplog.set_level(logging.INFO)
    for _ in range(DELIVERIES):
        assert services.delivery_send(delivery_id=made_row_id(endpoint)) == "delivered"
    assert len(hand_ons) == DELIVERIES
    assert dying_redis.accepted == 0
    # The outage's own line (its note above) only: none per delivery.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == [redis_line.logger.name]
    row = WebhookDelivery.objects.get(pk=waiting)
    assert (row.status, row.waits_for_slot) == ("pending", True)


def test_an_outage_it_meets_is_noted_once(
    held, dying_redis, hand_ons, monkeypatch, caplog
):
    endpoint, _ = held
    monkeypatch.setattr(redis_line, "OUTAGE_PAUSE_SECONDS", 3600.0)
    caplog.set_level(logging.INFO)
    handoff.slot_freed(endpoint)  # the first hand-on meets the outage
    first = dying_redis.accepted
    assert first >= 1
    for _ in range(DELIVERIES):
        assert services.delivery_send(delivery_id=made_row_id(endpoint)) == "delivered"
    assert dying_redis.accepted == first
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == [redis_line.logger.name]


def test_the_row_not_handed_on_goes_out_on_its_turn(held, dying_redis, broker):
    endpoint, waiting = held
    outage.failed(redis_line.RedisConnectionError("dropped"))
    assert services.delivery_send(delivery_id=made_row_id(endpoint)) == "delivered"
    row = WebhookDelivery.objects.get(pk=waiting)
    assert waiting not in broker  # not handed on: not queued early
    # Its turn comes: sent in the outage (no cap held then).
    turn = row.next_attempt_at
    assert turn is not None
    assert services.delivery_send(delivery_id=waiting, now=turn) == "delivered"
    assert dying_redis.accepted == 0


def test_a_refusal_noted_in_an_outage_asks_redis_nothing(held, dying_redis):
    endpoint, waiting = held
    outage.failed(redis_line.RedisConnectionError("dropped"))
    handoff.slot_wait_noted(endpoint)  # neither the flag nor the slots asked
    assert dying_redis.accepted == 0
    assert WebhookDelivery.objects.get(pk=waiting).waits_for_slot is True
