"""A TCP proxy on 127.0.0.1 in front of the test Redis whose TIME replies
are shifted by ``offset`` seconds: a Redis server with a clock of its own.
``failover(offset)`` drops every client connection and answers from then on
with another clock, as clients see a failover to a replica whose clock
differs (the data stays: it is the same Redis behind)."""

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

HOST = "127.0.0.1"


class RedisClockProxy:
    def __init__(self, redis_url: str, offset: int = 0) -> None:
        parts = urlsplit(redis_url)
        self._upstream = (parts.hostname or HOST, parts.port or 6379)
        self.offset = offset
        self.times = 0  # TIME replies passed on
        self._listener = socket.create_server((HOST, 0))
        port = self._listener.getsockname()[1]
        self.url = urlunsplit(parts._replace(netloc=f"{HOST}:{port}"))
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def failover(self, offset: int) -> None:
        """Every client connection closed; new ones see ``offset``."""
        with self._lock:
            self.offset = offset
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        # A shutdown wakes the accept (closing alone leaves it blocked, and
        # the port listening, for the rest of the run).
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(5)
        self.failover(self.offset)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()  # Redis down: the client sees the line drop
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._open += [client, upstream]
                offset = self.offset
            threading.Thread(
                target=self._pipe, args=(client, upstream), daemon=True
            ).start()
            threading.Thread(
                target=self._replies, args=(upstream, client, offset), daemon=True
            ).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)

    def _replies(self, upstream: socket.socket, client: socket.socket, offset: int):
        reader = upstream.makefile("rb")
        with contextlib.suppress(OSError, ValueError, EOFError):
            while True:
                client.sendall(_encode(self._shift(_read(reader), offset)))

    def _shift(self, reply: Any, offset: int) -> Any:
        if not isinstance(reply, list):
            return reply
        if (
            len(reply) == 2
            and all(type(part) is bytes and part.isdigit() for part in reply)
            and len(reply[0]) == 10
        ):  # TIME: seconds and microseconds
            self.times += 1
            return [str(int(reply[0]) + offset).encode(), reply[1]]
        return [self._shift(part, offset) for part in reply]


class _Line(bytes):
    """A reply sent as one line (status, error, integer, null), kept as read."""


def _read(reader: BinaryIO) -> Any:
    """One RESP2 reply: a _Line, a bulk string (bytes) or a list of replies."""
    line = reader.readline()
    if not line:
        raise EOFError
    kind, size = line[:1], line[1:-2]
    if kind == b"$" and int(size) >= 0:
        return reader.read(int(size) + 2)[:-2]
    if kind == b"*" and int(size) >= 0:
        return [_read(reader) for _ in range(int(size))]
    return _Line(line)


def _encode(reply: Any) -> bytes:
    if isinstance(reply, list):
        return b"*%d\r\n" % len(reply) + b"".join(_encode(r) for r in reply)
    if isinstance(reply, _Line):
        return bytes(reply)
    return b"$%d\r\n%s\r\n" % (len(reply), reply)


@contextlib.contextmanager
def redis_clock_proxy(redis_url: str, offset: int = 0) -> Iterator[RedisClockProxy]:
    proxy = RedisClockProxy(redis_url, offset)
    try:
        yield proxy
    finally:
        proxy.close()
