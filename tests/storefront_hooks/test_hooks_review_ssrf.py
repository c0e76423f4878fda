"""Outside review: addresses an endpoint must never reach, and a connect
phase that must stay within the delivery's deadline. Name resolution is
mocked; nothing here may connect anywhere but 127.0.0.1."""

import socket
import threading
import time
from collections.abc import Iterator
from unittest import mock

import pytest

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db

# IPv6 forms that carry an inner IPv4 address a gateway may translate to:
# NAT64 (64:ff9b::/96), 6to4 (2002::/16), IPv4-compatible and -translated
# (SIIT), and the deprecated site-local range (fec0::/10).
INNER_V6 = [
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215), any mapping
    "5f00::1",  # SRv6 SIDs (RFC 9602), routed inside a domain
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::ffff:0:a00:1",  # IPv4-translated 10.0.0.1
    "fec0::1",  # site-local
]

_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def loopback_only() -> Iterator[list]:
    """Refuse (and note) any connect to an address other than 127.0.0.1, so
    a guard that fails lets nothing out of this machine."""
    tried: list = []

    def connect(sock: socket.socket, address: tuple) -> None:
        if address[0] != "127.0.0.1":
            tried.append(address[0])
            raise ConnectionRefusedError("test: only 127.0.0.1 may be reached")
        return _real_connect(sock, address)

    with mock.patch.object(socket.socket, "connect", connect):
        yield tried


def _resolving(name: str, answers: list[tuple[int, tuple]]):
    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != name:
            return _real_getaddrinfo(host, port, family, type, proto, flags)
        return [(af, socket.SOCK_STREAM, 6, "", sa) for af, sa in answers]

    return mock.patch.object(socket, "getaddrinfo", getaddrinfo)


def _deliver(endpoint) -> WebhookDelivery:
    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.parametrize("address", INNER_V6)
def test_ipv6_forms_of_inner_addresses_are_refused_when_saved(
    settings, address
) -> None:
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(services.EndpointInvalid) as caught:
        services.endpoint_create(
            url=f"https://[{address}]/hooks", event_types=["payment.*"]
        )
    assert caught.value.param == "url"


@pytest.mark.parametrize("address", INNER_V6)
def test_a_name_resolving_to_them_is_refused_before_connecting(
    settings, make_endpoint, loopback_only, address
) -> None:
    endpoint, _ = make_endpoint(url="https://hooks.shop.example/hooks")
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    with _resolving("hooks.shop.example", [(socket.AF_INET6, (address, 443, 0, 0))]):
        delivery = _deliver(endpoint)

    assert delivery.status == "failed"
    assert "private or reserved address" in delivery.last_error
    assert loopback_only == []  # not even a SYN went out


def test_an_inner_address_among_a_names_answers_is_never_connected_to(
    settings, receiver, make_endpoint, loopback_only
) -> None:
    """A name answering an inner and a public address: the inner one is
    skipped before any packet goes to it."""
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint, _ = make_endpoint(url="https://hooks.shop.example/hooks")
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    answers = [
        (socket.AF_INET, ("10.0.0.7", 443)),
        (socket.AF_INET, ("169.254.169.254", 443)),
    ]
    with _resolving("hooks.shop.example", answers):
        delivery = _deliver(endpoint)

    assert delivery.status == "failed"
    assert "private or reserved address" in delivery.last_error
    assert loopback_only == []


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose connects hang: its listen backlog is full,
    so the kernel drops new SYNs (a firewalled address, locally)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        yield port
    finally:
        filler.close()
        server.close()


def test_a_name_with_many_unanswering_addresses_stays_within_the_deadline(
    settings, make_endpoint, blackhole_port
) -> None:
    """Each address got the whole connect timeout: twenty of them held the
    worker twenty times over, past the task timeout."""
    settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = 0.2
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 0.2
    endpoint, _ = make_endpoint(url=f"http://slow.shop.example:{blackhole_port}/h")
    answers = [(socket.AF_INET, ("127.0.0.1", blackhole_port))] * 20

    started = time.monotonic()
    with _resolving("slow.shop.example", answers):
        delivery = _deliver(endpoint)
    took = time.monotonic() - started

    assert delivery.status == "failed"
    # The deadline (connect + read), with room for a loaded machine; not the
    # 20 x 0.2 s of one connect timeout per address.
    assert took < (0.2 + 0.2) * 3, took


@pytest.fixture
def trickling_tls_port() -> Iterator[int]:
    """A port on 127.0.0.1 that answers a TLS ClientHello with a record
    header announcing 16 KB, then one byte every 50 ms (for 3 s at most):
    each read gets a byte in time, so only a bound on the whole handshake
    ends it (CPython's: the socket timeout, once for the handshake)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            try:
                conn.recv(4096)
                conn.sendall(b"\x16\x03\x03\x40\x00")
                ends = time.monotonic() + 3
                while not stop.is_set() and time.monotonic() < ends:
                    conn.sendall(b"\x00")
                    time.sleep(0.05)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        thread.join(timeout=4)


def test_a_tls_handshake_trickled_a_byte_at_a_time_stays_within_the_deadline(
    settings, make_endpoint, trickling_tls_port
) -> None:
    settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = 0.3
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 0.3
    endpoint, _ = make_endpoint(url=f"https://127.0.0.1:{trickling_tls_port}/h")

    started = time.monotonic()
    delivery = _deliver(endpoint)
    took = time.monotonic() - started

    assert delivery.status == "failed"
    # The deadline (connect + read), with room for a loaded machine.
    assert took < (0.3 + 0.3) * 3, took
