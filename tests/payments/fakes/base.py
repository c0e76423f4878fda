"""A stateful fake gateway on 127.0.0.1, over integrations.testing.faultserver.

Each provider's fake keeps its charges, replays a write by that provider's
idempotency semantics (a replay is never a second charge) and answers the
adapter's look-ups. A fault is armed on one operation (``create`` or
``capture``): a fault after which the provider may have acted (read timeout,
reset, 500, malformed answer) is injected *after* the fake performed the
operation — the worst case for a double charge; a 429 or an edge 502/503 is
answered before anything happens; a decline is the provider's own refusal.
Refused connections and connect timeouts never reach the fake: the test
points the adapter at a RefusingPort or BlackholePort instead.
"""

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from integrations.models import ProviderAccount
from integrations.testing.faultserver import (
    Behaviour,
    BlackholePort,
    FaultServer,
    RecordedRequest,
    RefusingPort,
    hang,
    malformed_json,
    reset,
    respond,
)
from payments.services.pan import looks_like_pan

FAULTS = (
    "refused",
    "connect_timeout",
    "read_timeout",
    "reset",
    "429",
    "500",
    "502",
    "503",
    "malformed",
    "decline",
)
# Answered by the provider's edge before its application saw the request.
BEFORE = frozenset({"429", "502", "503"})
TRANSPORT = frozenset({"refused", "connect_timeout"})
AFTER_ACTING = frozenset({"read_timeout", "reset", "500", "malformed"})
LIVE = frozenset({"authorized", "captured"})
# Short timeouts and retries: the matrix stays fast (tests run on 2 cores).
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "retry_after_cap_seconds": 0.01,
    "connect_timeout": 0.1,
    "read_timeout": 0.3,
    "deadline_seconds": 5,
    "breaker_consecutive_failures": 1000,
}


@dataclass
class Charge:
    """One charge as the gateway knows it."""

    id: str
    order_id: str
    amount: int
    currency: str
    state: str  # authorized | captured | cancelled
    key: str
    extra: dict[str, Any] = field(default_factory=dict)


class _Server(FaultServer):
    """Routes every request to the fake (the fault server's scripting is for
    fixed answers; a gateway's answers depend on what it was sent)."""

    def __init__(self, fake: "FakeGateway") -> None:
        super().__init__(hang_limit=1.0)
        self.fake = fake
        self._local = threading.local()

    def _record(self, request: RecordedRequest) -> None:
        super()._record(request)
        self._local.request = request

    def _next(self, method: str, path: str) -> Behaviour:
        return self.fake.dispatch(self._local.request)


class FakeGateway:
    """Base of the four fakes: charges, the armed fault, the charge counts."""

    provider = ""
    # The gateway authorizes first and the service captures in a second call.
    capture_after_authorize = False

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.charges: dict[str, Charge] = {}
        self.replies: dict[str, Behaviour] = {}  # idempotency key -> answer
        self.fault: str = ""
        self.fault_operation = ""
        self.server = _Server(self)
        # Operations actually carried out, by name (create, capture).
        self.performed: Counter[str] = Counter()
        # Charges a search can see: a provider's search index lags behind
        # its writes (Stripe, Braintree), until catch_up().
        self.indexed: set[str] = set()
        self.on_create: Callable[[], None] | None = None

    # --- What the test uses -----------------------------------------------------

    def new_id(self, prefix: str) -> str:
        # A random hex id is now and then a Luhn-valid run of 12+ digits,
        # which the PAN guard rightly refuses; gateways' ids never are.
        while looks_like_pan(new := prefix + uuid.uuid4().hex[:16]):
            continue
        return new

    def account(self) -> ProviderAccount:
        raise NotImplementedError

    def point_at(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        """Send the adapter's requests to ``url``."""
        raise NotImplementedError

    def source(
        self, *, order_id: str, amount: int, currency: str, capture: bool
    ) -> str:
        """The storefront's source token for one order."""
        return "tok_" + uuid.uuid4().hex[:12]

    @contextmanager
    def faulted(
        self,
        fault: str,
        operation: str,
        monkeypatch: pytest.MonkeyPatch,
        *,
        after_create: bool = False,
    ) -> Iterator[None]:
        """``fault`` on every ``operation`` request until the block ends.
        A transport fault makes the whole gateway unreachable, from the start
        of the block or (``after_create``) once a create has been answered."""
        port: RefusingPort | BlackholePort | None = None
        if fault in TRANSPORT:
            port = RefusingPort() if fault == "refused" else BlackholePort()
            unreachable = port.url

            def cut() -> None:
                self.point_at(monkeypatch, unreachable)

            self.on_create = cut if after_create else None
            if not after_create:
                cut()
        self.fault, self.fault_operation = fault, operation
        try:
            yield
        finally:
            self.fault = self.fault_operation = ""
            self.on_create = None
            if port is not None:
                port.close()
                self.point_at(monkeypatch, self.server.url)

    def catch_up(self) -> None:
        """The search index reaches every charge made so far."""
        with self.lock:
            self.indexed.update(self.charges)

    def live_charges(self) -> list[Charge]:
        return [c for c in self.charges.values() if c.state in LIVE]

    def double_charged_orders(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for charge in self.live_charges():
            counts[charge.order_id] = counts.get(charge.order_id, 0) + 1
        return {order: n for order, n in counts.items() if n > 1}

    # --- What a provider's fake supplies -------------------------------------------

    def operation(self, request: RecordedRequest) -> str:
        """``create``, ``capture`` or another name for ``request``."""
        raise NotImplementedError

    def handle(self, request: RecordedRequest) -> Behaviour:
        """Carry the request out (idempotently) and answer it."""
        raise NotImplementedError

    def decline(self, operation: str) -> Behaviour:
        raise NotImplementedError

    def edge_error(self, status: int) -> Behaviour:
        return respond(status, json={"error": "edge"})

    # --- Dispatch ------------------------------------------------------------------

    def dispatch(self, request: RecordedRequest) -> Behaviour:
        with self.lock:
            operation = self.operation(request)
            fault = self.fault if operation == self.fault_operation else ""
            if fault in BEFORE:
                headers = {"Retry-After": "0"} if fault == "429" else None
                status = int(fault)
                edge = self.edge_error(status)
                return respond(status, body=edge.body, json=edge.json, headers=headers)
            if fault == "decline":
                return self.decline(operation)
            answer = self.handle(request)
            if operation == "create" and self.on_create is not None:
                self.on_create()
        return _after(fault, answer)


def _after(fault: str, answer: Behaviour) -> Behaviour:
    """The answer as the fault leaves it, after the fake acted."""
    if fault == "read_timeout":
        return hang()
    if fault == "reset":
        return reset()
    if fault == "500":
        return respond(500, json={"error": "internal"})
    if fault == "malformed":
        return malformed_json(answer.status)
    return answer
