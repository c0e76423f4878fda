"""A delivery run the endpoint's in-flight cap refuses leaves at once: its
worker does not wait for a slot (a worker held idle serves nobody); the row
is put back, due on its turn in the endpoint's queue."""

import contextlib
import time
from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.models import DeliveryStatus
from integrations.ratelimit import RateLimiter
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.cap_setup import made_row_id, slots_taken
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db(transaction=True)

CAP = 2
HELD_FOR = 30.0  # seconds the deliveries in flight have been out so far


@contextlib.contextmanager
def _slots_held(endpoint, since):
    """``CAP`` deliveries in flight since ``since``: rows claimed, slots taken."""
    for _ in range(CAP):
        made_row_id(
            endpoint, status=DeliveryStatus.DELIVERING, claimed_at=since, attempts=1
        )
    with slots_taken(endpoint, CAP):
        yield


@pytest.fixture
def slot_tries(monkeypatch) -> list[float]:
    """When each try for a slot was made (the limiter polls while it waits)."""
    tries: list[float] = []
    real = RateLimiter._try_slot

    def counted(self, token):
        tries.append(time.monotonic())
        return real(self, token)

    monkeypatch.setattr(RateLimiter, "_try_slot", counted)
    return tries


def test_a_run_over_the_cap_tries_once_and_leaves(settings, make_endpoint, slot_tries):
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 59.0
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    endpoint = make_endpoint()[0]
    start = database_now()
    for _ in range(3):
        made_row_id(endpoint)  # ahead of it in the endpoint's queue
    refused = made_row_id(endpoint)
    with _slots_held(endpoint, start - timedelta(seconds=HELD_FOR)):
        slot_tries.clear()
        status = services.delivery_send(delivery_id=refused, now=start)

    # Before: about 20 tries over 0.2 s, the worker polling for a slot. The
    # limiter waits only between tries: one try means no wait (a clock
    # bound here would measure the machine's load, not the behaviour).
    assert len(slot_tries) == 1, len(slot_tries)
    row = WebhookDelivery.objects.get(pk=refused)
    assert (status, row.status, row.attempts) == ("pending", "pending", 0)
    assert "in flight" in row.last_error
    # Its turn: (3 rows ahead + 1) x 30 s / 2 slots, +0-20 %.
    wait = (row.next_attempt_at - start).total_seconds()
    assert 60 <= wait <= 72.1, wait


def test_a_free_slot_is_still_taken_at_once(settings, make_endpoint, receiver):
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint = make_endpoint()[0]
    delivery_id = made_row_id(endpoint)
    assert services.delivery_send(delivery_id=delivery_id) == "delivered"
    assert len(receiver.requests) == 1
