"""The deadline on a whole response: status line, headers and body.

A socket's read timeout only bounds each read, so a peer that trickles its
answer a byte at a time never trips it. ``ProviderTransport`` opens
``response_deadline(seconds)`` around each request; every response read on a
connection of ``deadline_pools`` inside it lowers the socket's timeout to the
time left before each read and raises ``TimeoutError`` once it has passed
(urllib3 and requests report it as a read timeout). The deadline belongs to the
response, so a body streamed after ``send`` returns is bounded too.
"""

import functools
import http.client
import io
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from urllib3.connectionpool import HTTPConnectionPool

# The end of the response in flight, on time.monotonic(); None: no deadline.
_deadline: ContextVar[float | None] = ContextVar("response_deadline", default=None)


@contextmanager
def response_deadline(seconds: float) -> Iterator[None]:
    """Responses read on ``deadline_pools`` connections started inside the
    block must be read in full within ``seconds`` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


class DeadlineReader(io.RawIOBase):
    """The socket's raw reader, with each read's timeout lowered to the time
    left before ``deadline``."""

    def __init__(self, raw: Any, sock: Any, deadline: float) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._deadline = deadline
        # urllib3 set the read timeout just before the response was made.
        self._timeout = sock.gettimeout()

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the response outlasted the deadline")
        # Only near the deadline: no system call on the common path. urllib3
        # sets the timeouts again before the connection's next request.
        if self._timeout is None or left < self._timeout:
            self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class DeadlineHTTPResponse(http.client.HTTPResponse):
    """``http.client``'s response, read through a ``DeadlineReader`` when a
    ``response_deadline`` is open."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        deadline = _deadline.get()
        if deadline is not None:
            # The same socket reader (it holds the socket's file reference),
            # behind the deadline check.
            raw = self.fp.detach()
            self.fp = io.BufferedReader(DeadlineReader(raw, sock, deadline))


@functools.cache
def deadline_pool(pool_class: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    """``pool_class`` whose connections read responses under the deadline."""
    connection_class = type(
        f"Deadline{pool_class.ConnectionCls.__name__}",
        (pool_class.ConnectionCls,),
        {"response_class": DeadlineHTTPResponse},
    )
    return type(
        f"Deadline{pool_class.__name__}",
        (pool_class,),
        {"ConnectionCls": connection_class},
    )


def deadline_pools(
    pool_classes: Mapping[str, type[HTTPConnectionPool]],
) -> dict[str, type[HTTPConnectionPool]]:
    """A pool manager's ``pool_classes_by_scheme``, under the deadline."""
    return {scheme: deadline_pool(cls) for scheme, cls in pool_classes.items()}
