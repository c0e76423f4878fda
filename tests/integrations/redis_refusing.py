"""A Redis on 127.0.0.1 that is up but refuses commands: it speaks enough
RESP for redis-py's handshake (HELLO, CLIENT) and answers every other
command with one error line ("-OOM ...", "-READONLY ..."), as a full
server or a demoted primary does. ``handshake_error`` refuses the HELLO
too (a wrong password). Counts connections and refused commands."""

import contextlib
import itertools
import logging
import socket
import threading
from collections.abc import Iterator
from typing import BinaryIO

HOST = "127.0.0.1"
OOM = "OOM command not allowed when used memory > 'maxmemory'."
READONLY = "READONLY You can't write against a read only replica."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
# RESP3's answer to HELLO 3: what redis-py checks is "proto".
_HELLO = b"%3\r\n+server\r\n+redis\r\n+version\r\n+7.2.0\r\n+proto\r\n:3\r\n"


class Refusing:
    def __init__(self, error: str, *, handshake_error: str | None = None) -> None:
        self.error = error
        self.handshake_error = handshake_error
        self.connections = 0
        self.refused = 0
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, password: str = "") -> str:
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{HOST}:{self.port}/0"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError), conn.makefile("rb") as reader:
            while (command := _read_command(reader)) is not None:
                conn.sendall(self._reply(command))

    def _reply(self, command: list[bytes]) -> bytes:
        name = command[0].upper() if command else b""
        if name == b"HELLO":
            if self.handshake_error:
                return f"-{self.handshake_error}\r\n".encode()
            return _HELLO
        if name in (b"CLIENT", b"PING"):
            return b"+OK\r\n" if name == b"CLIENT" else b"+PONG\r\n"
        self.refused += 1
        return f"-{self.error}\r\n".encode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


def _read_command(reader: BinaryIO) -> list[bytes] | None:
    """One RESP array of bulk strings (how clients send commands); None at EOF."""
    header = reader.readline()
    if not header.startswith(b"*"):
        return None
    parts = []
    for _ in range(int(header[1:])):
        length = int(reader.readline()[1:])
        parts.append(reader.read(length + 2)[:-2])
    return parts


@contextlib.contextmanager
def cache_on(settings, url: str) -> Iterator[None]:
    """The default cache on the (fake) Redis at ``url``, half-second
    timeouts, with the breaker's recent calls and the one outage record
    forgotten before, and the record after."""
    from integrations.breaker.store import forget_recent
    from integrations.redis_line import outage

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    forget_recent()
    outage.forget()
    try:
        yield
    finally:
        outage.forget()


_orders = itertools.count()


def pay_captured(tag: str) -> None:
    """One sandbox payment taken through to captured, its Redis use and all."""
    from payments import services

    n = next(_orders)
    payment = services.payment_create(
        order_id=f"order-{tag}-{n}",
        amount=1050,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=f"key-{tag}-{n}",
    )
    assert payment.status == "captured", payment.status


def line_records(caplog, level: int) -> list[logging.LogRecord]:
    """The Redis line's log records at ``level``."""
    from integrations import redis_line

    return [
        r
        for r in caplog.records
        if r.name == redis_line.logger.name and r.levelno == level
    ]
