"""A stopped fault server hangs up on clients that kept their connection
alive, and its handler threads end: before, each such client kept two
descriptors and a thread for the rest of the session (task tests26)."""

import socket
import threading

from integrations.testing.faultserver import FaultServer, respond

REQUEST = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


def _handler_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


def test_stop_hangs_up_on_a_kept_alive_connection_and_ends_its_handler():
    before = _handler_threads()
    server = FaultServer().start()
    server.route("GET", "/ping", respond(200, json={"ok": True}))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(REQUEST)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")

        server.stop()

        conn.settimeout(2)
        assert conn.recv(1) == b""  # the server's end is closed
    assert _handler_threads() - before == set()


def test_stop_ends_a_handler_still_answering():
    released = threading.Event()
    server = FaultServer().start()
    server.route("GET", "/held", respond(until=released))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(REQUEST.replace(b"/ping", b"/held"))
        while not server.requests_for("GET", "/held"):
            threading.Event().wait(0.01)

        server.stop()

        conn.settimeout(2)
        while conn.recv(4096):  # an answer on release, then the hang-up
            pass
    assert not [t for t in _handler_threads() if t.is_alive()]
