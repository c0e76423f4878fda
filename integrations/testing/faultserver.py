"""A fault-injecting HTTP server on 127.0.0.1, for tests and benchmarks.

The client, breaker, rate limiter and failover are exercised over real
sockets against it. Each route (method + path) gets a sequence of behaviours;
each request takes the next one and the last one repeats::

    with FaultServer() as server:
        server.route("POST", "/v1/charges", respond(500), respond(200, json={}))
        server.route("GET", "/slow", respond(latency=0.05))
        server.route("GET", "/held", respond(until=released))  # a set() away
        server.route("GET", "/down", reset())  # close without an answer
        server.route("GET", "/black", hang())  # accept, never answer
        server.route("GET", "/bad", malformed_json())
        server.route("GET", "/busy", respond(429, headers={"Retry-After": "2"}))
        server.route("GET", "/drip", trickle(length=40, gap=0.2))  # 8 s body
        ...
        server.requests_for("POST", "/v1/charges")[0].header("Idempotency-Key")

Unrouted requests get a 404. ``RefusingPort`` gives a URL where connections
are refused and ``BlackholePort`` one where they time out while connecting.
"""

import contextlib
import json as jsonlib
import socket
import struct
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

HOST = "127.0.0.1"
Action = Literal["respond", "reset", "hang", "malformed", "trickle"]
# A truncated object: what a provider sends when it dies mid-response.
MALFORMED_BODY = b'{"id": "obj_123", "status": '


@dataclass(frozen=True)
class Behaviour:
    action: Action = "respond"
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    latency: float = 0.0
    gap: float = 0.0  # trickle: seconds between bytes
    head: bool = False  # trickle: the status line and headers too
    # Answered once this is set (or the server stops): in flight for exactly
    # as long as a test needs, no guess at a latency.
    until: threading.Event | None = None


def respond(
    status: int = 200,
    *,
    json: Any = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    latency: float = 0.0,
    until: threading.Event | None = None,
) -> Behaviour:
    """Answer with ``status`` and a JSON (``json``) or raw (``body``) body;
    ``until``: not before that event is set."""
    return Behaviour(
        "respond", status, json, body, dict(headers or {}), latency, until=until
    )


def reset(*, latency: float = 0.0) -> Behaviour:
    """Read the request, then reset the connection without answering."""
    return Behaviour("reset", latency=latency)


def hang() -> Behaviour:
    """Read the request and never answer (until the server stops)."""
    return Behaviour("hang")


def trickle(
    status: int = 200, *, length: int = 40, gap: float = 0.2, head: bool = False
) -> Behaviour:
    """Answer at once, then send a ``length``-byte body one byte every ``gap``
    seconds (with ``head``, the status line and headers as well): never silent
    long enough for a read timeout, yet as slow as one likes."""
    return Behaviour("trickle", status, body=b"x" * length, gap=gap, head=head)


def malformed_json(status: int = 200, *, latency: float = 0.0) -> Behaviour:
    return Behaviour("malformed", status, latency=latency)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return jsonlib.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, like a real provider, so pooled clients reuse connections.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body
    # waits for the client's delayed ACK (~40 ms) and skews every latency.
    disable_nagle_algorithm = True
    server: "_Server"

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        # Silence the default stderr access log.
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.owner._record(
            RecordedRequest(self.command, path, query, headers, body)
        )
        behaviour = self.server.owner._next(self.command, path)
        if behaviour.latency:
            self.server.stopping.wait(behaviour.latency)
        if behaviour.until is not None:
            self._wait_for(behaviour.until)
        if behaviour.action == "reset":
            self._reset()
        elif behaviour.action == "hang":
            self.server.stopping.wait(self.server.owner.hang_limit)
            self.close_connection = True
        elif behaviour.action == "malformed":
            self._send(behaviour.status, MALFORMED_BODY, {})
        elif behaviour.action == "trickle":
            self._trickle(behaviour)
        else:
            self._respond(behaviour)

    def _wait_for(self, event: threading.Event) -> None:
        # At most hang_limit, as a hang: a test that never sets it ends.
        for _ in range(int(self.server.owner.hang_limit / 0.05)):
            if event.wait(0.05) or self.server.stopping.is_set():
                return

    def _respond(self, behaviour: Behaviour) -> None:
        headers = dict(behaviour.headers)
        if behaviour.body is not None:
            payload = behaviour.body
        else:
            payload = jsonlib.dumps({} if behaviour.json is None else behaviour.json)
            payload = payload.encode()
        self._send(behaviour.status, payload, headers)

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        names = {k.lower() for k in headers}
        self.send_response_only(status)
        if "date" not in names:
            self.send_header("Date", formatdate(usegmt=True))
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _trickle(self, behaviour: Behaviour) -> None:
        body = behaviour.body or b""
        head = (
            f"HTTP/1.1 {behaviour.status} Slow\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        if not behaviour.head:
            self.wfile.write(head)
            head = b""
        for byte in head + body:
            if self.server.stopping.wait(behaviour.gap):
                return
            self.wfile.write(bytes((byte,)))

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.connection.close()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: "FaultServer", address: tuple[str, int]) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        # Accepted connections and their handler threads: a keep-alive client
        # would otherwise hold both open (two descriptors, a thread) for ever.
        self._open: dict[socket.socket, threading.Thread | None] = {}
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Noted before its thread starts: ``stop`` sees every accepted one.
        with self._open_lock:
            self._open[request] = None
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open[request] = threading.current_thread()
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)

    def close_connections(self, timeout: float) -> None:
        """Hang up on every client still connected and wait for the handlers."""
        with self._open_lock:
            open_now = dict(self._open)
        for connection in open_now:
            with contextlib.suppress(OSError):  # closed by its handler meanwhile
                connection.shutdown(socket.SHUT_RDWR)
        for thread in open_now.values():
            if thread is not None:
                thread.join(timeout=timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are expected here; stay quiet.
        return


class FaultServer:
    """A threaded HTTP server with scripted behaviour per route."""

    def __init__(self, *, port: int = 0, hang_limit: float = 30.0) -> None:
        self.hang_limit = hang_limit
        self._port = port
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], list[Behaviour]] = {}
        self._served: dict[tuple[str, str], int] = {}
        self._requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "FaultServer":
        self._server = _Server(self, (HOST, self._port))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="faultserver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stopping.set()  # releases hanging and sleeping handlers
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("fault server is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + path

    def route(self, method: str, path: str, *behaviours: Behaviour) -> None:
        """Script ``method path``: requests take the behaviours in turn, the
        last one repeating. Re-routing restarts the sequence."""
        if not behaviours:
            raise ValueError("route() needs at least one behaviour")
        key = (method.upper(), path)
        with self._lock:
            self._routes[key] = list(behaviours)
            self._served[key] = 0

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, method: str, path: str) -> list[RecordedRequest]:
        method = method.upper()
        return [r for r in self.requests if r.method == method and r.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next(self, method: str, path: str) -> Behaviour:
        key = (method, path)
        with self._lock:
            behaviours = self._routes.get(key)
            if behaviours is None:
                return respond(404, json={"error": "no such route"})
            index = min(self._served[key], len(behaviours) - 1)
            self._served[key] += 1
            return behaviours[index]


class RefusingPort:
    """A local port where every connection is refused.

    The socket is bound but never listens, so the kernel answers SYN with RST
    and no other program can take the port while this object is open.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((HOST, 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "RefusingPort":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlackholePort:
    """A local port where connecting times out (the TCP handshake never ends).

    It listens with a zero backlog and never accepts; once filler connections
    fill the accept queue the kernel drops further SYNs, as a firewall that
    silently drops packets would.
    """

    def __init__(self, *, max_fillers: int = 16) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((HOST, 0))
        self._listener.listen(0)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self._fillers: list[socket.socket] = []
        self._fill(max_fillers)

    def _fill(self, max_fillers: int) -> None:
        for _ in range(max_fillers):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.settimeout(0.05)
            self._fillers.append(filler)
            try:
                filler.connect((HOST, self.port))
            except OSError:
                return  # the queue is full: this SYN was dropped
        raise RuntimeError("could not fill the accept queue")

    def close(self) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()

    def __enter__(self) -> "BlackholePort":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def fault_server(**kwargs: Any) -> Iterator[FaultServer]:
    """A started ``FaultServer``, stopped on exit (for benchmarks and fixtures)."""
    server = FaultServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
