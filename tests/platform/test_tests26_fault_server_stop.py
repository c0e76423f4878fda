"""A stopped fault server hangs up on clients that kept their connection
alive, and its handler threads end: before, each such client kept two
descriptors and a thread for the rest of the session (task tests26)."""

import socket
import threading

from integrations.testing.faultserver import FaultServer, respond

REQUEST = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


class WatchedServer(FaultServer):
    """Notes the thread that handles each request."""

    def __init__(self) -> None:
        super().__init__()
        self.handlers: list[threading.Thread] = []

    def _record(self, request) -> None:
        self.handlers.append(threading.current_thread())
        super()._record(request)


def test_stop_hangs_up_on_a_kept_alive_connection_and_ends_its_handler():
    server = WatchedServer().start()
    server.route("GET", "/ping", respond(200, json={"ok": True}))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(REQUEST)
        answer = b""
        while not answer.endswith(b'{"ok": true}'):  # head and body come apart
            answer += conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")

        server.stop()

        conn.settimeout(2)
        assert conn.recv(1) == b""  # the server's end is closed
    (handler,) = server.handlers
    assert not handler.is_alive()


def test_stop_ends_a_handler_still_answering():
    released = threading.Event()
    server = WatchedServer().start()
    server.route("GET", "/held", respond(until=released))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(REQUEST.replace(b"/ping", b"/held"))
        while not server.handlers:
            threading.Event().wait(0.01)

        server.stop()

        conn.settimeout(2)
        while conn.recv(4096):  # an answer on release, then the hang-up
            pass
    (handler,) = server.handlers
    assert not handler.is_alive()
