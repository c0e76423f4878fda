"""Outgoing storefront webhooks under a resolver that never answers: each
delivery gives up at its connect budget, but the look-up it abandoned stays
blocked in the resolver. Deliveries must not gather one stuck thread each: a
name still being looked up is waited for, not looked up again, and past a
bound no new look-up starts (the attempt fails at once, nothing sent)."""

import socket
import threading
from collections.abc import Iterator
from unittest import mock

import pytest

from integrations.models import DeliveryStatus
from storefront_hooks import safety, services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db

_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def stuck_resolver() -> Iterator[list[str]]:
    """Names under ``stuck.example`` never resolve while the test runs (the
    look-ups end with it); the names asked are listed."""
    release = threading.Event()
    asked: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if not str(host).endswith("stuck.example"):
            return _real_getaddrinfo(host, port, family, type, proto, flags)
        asked.append(host)
        release.wait(timeout=30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure")

    with mock.patch.object(socket, "getaddrinfo", getaddrinfo):
        yield asked
        release.set()


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = 0.1
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 1.0


def _send(make_endpoint, receiver, host: str) -> WebhookDelivery:
    endpoint = make_endpoint(url=f"http://{host}:{receiver.port}{HOOK_PATH}")[0]
    delivery = services.test_event_send(endpoint=endpoint)
    assert services.delivery_send(delivery_id=delivery.pk) == DeliveryStatus.FAILED
    return WebhookDelivery.objects.get(pk=delivery.pk)


def _stuck_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "webhook-dns")


def test_deliveries_to_one_stuck_name_share_one_look_up(
    make_endpoint, receiver, stuck_resolver
):
    before = _stuck_threads()
    for _ in range(5):
        delivery = _send(make_endpoint, receiver, "hooks.stuck.example")
        assert "did not resolve" in delivery.last_error, delivery.last_error

    assert stuck_resolver == ["hooks.stuck.example"]
    assert _stuck_threads() - before == 1
    assert receiver.requests == []


def test_stuck_look_ups_are_bounded_across_names(
    make_endpoint, receiver, stuck_resolver
):
    before = _stuck_threads()
    hosts = [f"h{n}.stuck.example" for n in range(safety.MAX_PENDING_LOOKUPS + 3)]
    deliveries = [_send(make_endpoint, receiver, host) for host in hosts]

    assert _stuck_threads() - before <= safety.MAX_PENDING_LOOKUPS
    assert len(stuck_resolver) <= safety.MAX_PENDING_LOOKUPS
    last = deliveries[-1]
    # Failed and retried later like any look-up that did not answer in time.
    assert last.attempts == 1 and last.next_attempt_at is not None
    assert "look-ups" in last.last_error, last.last_error
    assert receiver.requests == []
