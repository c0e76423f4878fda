"""Fixtures for ProviderClient tests: a fault server over real sockets and a
controllable clock, so back-off and deadlines are tested without sleeping."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integrations.client import ProviderClient
from integrations.models import ProviderAccount
from integrations.testing.faultserver import FaultServer, RefusingPort, fault_server
from tests.factories import ProviderAccountFactory

# Short real timeouts where a socket must really time out; no retry sleeps
# (the clock below is fake).
FAST_SETTINGS = {
    "connect_timeout": 0.5,
    "read_timeout": 0.2,
    "deadline_seconds": 30,
    "max_attempts": 3,
    "backoff_base_seconds": 0.25,
    "backoff_cap_seconds": 2,
    "retry_after_cap_seconds": 10,
    # Tests that want the breaker to trip lower this.
    "breaker_consecutive_failures": 50,
}


class FakeTime:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class UpperBoundJitter:
    """Always picks the top of the full-jitter range and records the range."""

    def __init__(self) -> None:
        self.ranges: list[tuple[float, float]] = []

    def __call__(self, low: float, high: float) -> float:
        self.ranges.append((low, high))
        return high


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    with fault_server(hang_limit=5) as server:
        yield server


@pytest.fixture
def refused_url() -> Iterator[str]:
    with RefusingPort() as port:
        yield port.url


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def account(db: None) -> ProviderAccount:
    return ProviderAccountFactory(settings=dict(FAST_SETTINGS))


@pytest.fixture
def make_client(
    account: ProviderAccount, fake_time: FakeTime
) -> Iterator[Callable[..., ProviderClient]]:
    made: list[ProviderClient] = []

    def make(
        acct: ProviderAccount | None = None,
        *,
        jitter: Callable[[float, float], float] | None = None,
        **overrides: Any,
    ) -> ProviderClient:
        target = acct or account
        if overrides:
            target.settings = {**target.settings, **overrides}
            target.save(update_fields=["settings"])
        kwargs: dict[str, Any] = {"clock": fake_time.clock, "sleep": fake_time.sleep}
        if jitter is not None:
            kwargs["jitter"] = jitter
        client = ProviderClient(target, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., ProviderClient]) -> ProviderClient:
    return make_client()
