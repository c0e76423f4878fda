"""The per-endpoint in-flight cap when a slot is not given back: a worker
killed between taking a slot and its release holds it only until the slot's
lease (the delivery lease) runs out; a delivery that fails (a timeout, a
refused connection) gives its slot back at once."""

import time

import pytest

from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.transport import endpoint_client
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cap_of_one(settings):
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 1
    settings.STOREFRONT_WEBHOOK_LEASE_SECONDS = 1


def test_a_slot_of_a_killed_worker_frees_after_the_lease(make_endpoint, receiver):
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint = make_endpoint()[0]
    _, limiter = endpoint_client(endpoint)._guards()
    # Taken, never released (its worker killed); kept referenced, or the
    # generator's clean-up would release it.
    leaked = limiter.concurrency_slot()
    leaked.__enter__()

    held = services.test_event_send(endpoint=endpoint)
    assert services.delivery_send(delivery_id=held.pk) == DeliveryStatus.PENDING
    assert receiver.requests == []

    time.sleep(1.2)  # the slot's lease (the delivery lease) runs out
    later = services.test_event_send(endpoint=endpoint)
    assert services.delivery_send(delivery_id=later.pk) == DeliveryStatus.DELIVERED


def test_a_failed_delivery_gives_its_slot_back(settings, make_endpoint, receiver):
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 0.2
    receiver.route("POST", HOOK_PATH, respond(200, latency=1.0))
    endpoint = make_endpoint()[0]
    first = services.test_event_send(endpoint=endpoint)
    assert services.delivery_send(delivery_id=first.pk) == DeliveryStatus.FAILED

    receiver.route("POST", HOOK_PATH, respond(200))
    second = services.test_event_send(endpoint=endpoint)
    assert services.delivery_send(delivery_id=second.pk) == DeliveryStatus.DELIVERED
