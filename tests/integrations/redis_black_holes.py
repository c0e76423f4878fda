"""Redis black holes on 127.0.0.1 only: ``Silent`` accepts every connection
and never answers (packets dropped after the handshake); ``Unaccepting``
never completes one (its accept queue is full, so the kernel drops the SYNs,
as for a black-holed address). ``close`` frees whoever still waits on them:
a held connection is closed (EOF), a pending connect is refused."""

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

HOST = "127.0.0.1"
# A call the timeouts do not bound is freed by closing the hole after this
# long, so a failing test ends instead of hanging for the OS's TCP timeout.
WATCHDOG_SECONDS = 12.0


class Silent:
    def __init__(self) -> None:
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"redis://{HOST}:{self.port}/0"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


class Unaccepting:
    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind((HOST, 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self.url = f"redis://{HOST}:{self.port}/0"
        self._fillers: list[socket.socket] = []
        # Connect until one is not answered: the queue is then full.
        for _ in range(16):
            filler = socket.socket()
            filler.settimeout(0.2)
            try:
                filler.connect((HOST, self.port))
            except TimeoutError:
                filler.close()
                return
            self._fillers.append(filler)
        raise RuntimeError("the accept queue never filled")

    def close(self) -> None:
        self._listener.close()
        for filler in self._fillers:
            filler.close()


@contextlib.contextmanager
def watched(hole: Any) -> Iterator[None]:
    """Close ``hole`` after WATCHDOG_SECONDS if the block still runs."""
    timer = threading.Timer(WATCHDOG_SECONDS, hole.close)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def timed(call: Any) -> tuple[float, Any]:
    """(seconds taken, what ``call`` returned or raised)."""
    start = time.monotonic()
    try:
        outcome = call()
    except Exception as exc:  # the outcome is checked by the test
        outcome = exc
    return time.monotonic() - start, outcome
