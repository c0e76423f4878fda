"""Outgoing storefront webhooks: resolving an endpoint's host name has a
deadline of its own inside the delivery's connect budget. A fake resolver
stands in for a slow one; nothing here connects anywhere but 127.0.0.1."""

import socket
import threading
import time
from collections.abc import Iterator
from unittest import mock

import pytest

from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db

SLOW_NAME = "slow-dns.example"
_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def slow_resolver() -> Iterator[threading.Event]:
    """``SLOW_NAME`` resolves to 127.0.0.1 only once the test lets it (up to
    30 s: a resolver stuck on an unanswering server), other names as ever."""
    release = threading.Event()

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != SLOW_NAME:
            return _real_getaddrinfo(host, port, family, type, proto, flags)
        release.wait(timeout=30)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    with mock.patch.object(socket, "getaddrinfo", getaddrinfo):
        yield release
        release.set()  # the abandoned look-up ends with the test


def _endpoint(make_endpoint, receiver):
    url = f"http://{SLOW_NAME}:{receiver.port}{HOOK_PATH}"
    return make_endpoint(url=url)[0]


def test_slow_resolution_is_a_failed_attempt_within_the_connect_budget(
    settings, make_endpoint, receiver, slow_resolver
):
    settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = 0.5
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 5.0
    endpoint = _endpoint(make_endpoint, receiver)
    delivery = services.test_event_send(endpoint=endpoint)

    started = time.monotonic()
    status = services.delivery_send(delivery_id=delivery.pk)
    took = time.monotonic() - started

    assert status == DeliveryStatus.FAILED
    # The connect budget (0.5 s) plus our own bookkeeping, not the 30 s the
    # resolver would take, nor the whole 5.5 s delivery deadline.
    assert took < 2.0, took
    delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.attempts == 1  # counted: an attempt that failed
    assert delivery.next_attempt_at is not None
    assert "did not resolve within 0.5 s" in delivery.last_error, delivery.last_error
    assert SLOW_NAME in delivery.last_error
    assert receiver.requests == []


def test_a_resolution_within_the_budget_is_delivered(
    settings, make_endpoint, receiver, slow_resolver
):
    settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = 2.0
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint = _endpoint(make_endpoint, receiver)
    delivery = services.test_event_send(endpoint=endpoint)
    threading.Timer(0.2, slow_resolver.set).start()  # answers after 0.2 s

    assert services.delivery_send(delivery_id=delivery.pk) == DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 1
