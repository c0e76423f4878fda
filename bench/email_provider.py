"""A local fake SendGrid for the email bench: ``POST /v3/mail/send`` on
127.0.0.1, limited like a provider to ``rate`` messages a second (a token
bucket holding ``burst``), answering 202 with ``X-Message-Id`` when a token
is free and 429 with ``Retry-After: 1`` when not (SendGrid v3 Mail Send,
provider-specs/email/sendgrid/oai.json ``/mail/send`` 202; the 429 as HTTP
says, integer seconds).

It counts what it accepted by our message id (``custom_args.message_id``)
and by recipient, so duplicates are seen where they would hurt: at the
provider. ``rate=None`` accepts everything (the raw capacity run).
"""

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEND = "/v3/mail/send"
HOST = "127.0.0.1"
_THROTTLED = json.dumps({"errors": [{"message": "too many requests"}]}).encode()


class _Bucket:
    """Tokens refill at ``rate`` a second up to ``burst``; one per send."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    disable_nagle_algorithm = True
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != SEND:
            self._answer(404, b"{}", {})
            return
        if not self.server.owner.admit(body):
            self._answer(429, _THROTTLED, {"Retry-After": "1"})
            return
        self._answer(202, b"", {"X-Message-Id": "bench-sg-id"})

    def _answer(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: "FakeSendGrid") -> None:
        self.owner = owner
        super().__init__((HOST, 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients hanging up at the end of a run


class FakeSendGrid:
    """Started by ``with FakeSendGrid(rate=500) as provider: ...``."""

    def __init__(self, *, rate: float | None, burst: float | None = None) -> None:
        self._lock = threading.Lock()
        self._bucket = _Bucket(rate, burst or max(rate / 10, 1)) if rate else None
        self.by_message: Counter[str] = Counter()
        self.by_recipient: Counter[str] = Counter()
        self.accepted = 0
        self.throttled = 0
        self.first = self.last = 0.0
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def admit(self, body: bytes) -> bool:
        """Take a token and count the message; False: throttled."""
        now = time.monotonic()
        with self._lock:
            if self._bucket is not None and not self._bucket.take(now):
                self.throttled += 1
                return False
            self.accepted += 1
            self.first = self.first or now
            self.last = now
        data = json.loads(body or b"{}")
        message_id = str((data.get("custom_args") or {}).get("message_id", ""))
        to = data.get("personalizations", [{}])[0].get("to", [{}])[0].get("email", "")
        with self._lock:
            self.by_message[message_id] += 1
            self.by_recipient[str(to)] += 1
        return True

    def rate(self) -> float:
        """Accepted messages a second, first to last."""
        if self.accepted < 2 or self.last <= self.first:
            return 0.0
        return (self.accepted - 1) / (self.last - self.first)

    def duplicates(self) -> int:
        """Messages accepted more than once, by our id or by recipient."""
        by_id = sum(n - 1 for n in self.by_message.values() if n > 1)
        by_to = sum(n - 1 for n in self.by_recipient.values() if n > 1)
        return max(by_id, by_to)

    def __enter__(self) -> "FakeSendGrid":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
