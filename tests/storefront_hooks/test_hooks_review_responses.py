"""Outside review: hostile answers from an endpoint (raw bytes on a socket
on 127.0.0.1). Each is settled as the endpoint's failure or success, stored
safely, never as an error of ours and never left claimed."""

import gzip
import socket
import threading
from collections.abc import Iterator

import pytest

from storefront_hooks import services
from storefront_hooks.services.deliveries import OUR_SIDE_ERROR


class RawServer:
    """Answers every connection with ``answer`` (read the request first)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_endpoint(db) -> Iterator:
    servers: list[RawServer] = []

    def make(answer: bytes):
        server = RawServer(answer)
        servers.append(server)
        endpoint, _ = services.endpoint_create(
            url=f"http://127.0.0.1:{server.port}/hooks", event_types=["payment.*"]
        )
        return endpoint

    yield make
    for server in servers:
        server.close()


def _deliver(endpoint):
    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_binary_body_with_nul_is_stored_as_text(raw_endpoint) -> None:
    body = b"\xff\xfe\x00bad\x00\xc3(" + bytes(range(256))
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    delivery = _deliver(raw_endpoint(head + body))
    assert delivery.status == "delivered"
    assert "\x00" not in delivery.last_response
    assert delivery.last_response.startswith("\ufffd")


def test_a_gzip_bomb_is_read_only_up_to_the_limit(settings, raw_endpoint) -> None:
    settings.STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES = 64
    bomb = gzip.compress(b"A" * 10_000_000)
    head = (
        b"HTTP/1.1 500 Oops\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(bomb)
    )
    delivery = _deliver(raw_endpoint(head + bomb))
    assert delivery.status == "failed"
    assert delivery.last_status_code == 500
    assert delivery.last_response == "A" * 64


@pytest.mark.parametrize(
    "answer",
    [
        b"HELLO THERE\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 2000000 Big\r\n\r\n",
        b"",
    ],
    ids=["no-status-line", "too-many-headers", "long-header", "bad-status", "empty"],
)
def test_a_malformed_answer_is_the_endpoints_failure(raw_endpoint, answer) -> None:
    endpoint = raw_endpoint(answer)
    delivery = _deliver(endpoint)
    assert delivery.status == "failed"
    assert delivery.attempts == 1
    assert not delivery.last_error.startswith(OUR_SIDE_ERROR)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None  # it counts against the endpoint
