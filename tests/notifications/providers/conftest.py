"""Fixtures for the email provider tests: fault servers on 127.0.0.1 and
accounts with short real timeouts, so failures travel over real sockets."""

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from integrations.testing.faultserver import FaultServer, RefusingPort, fault_server

# Short real timeouts where a socket must really time out; one attempt, so
# each test sees the classification of one call.
FAST = {
    "connect_timeout": 0.5,
    "read_timeout": 0.3,
    "deadline_seconds": 10,
    "max_attempts": 1,
    "breaker_consecutive_failures": 50,
}


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    with fault_server(hang_limit=3) as server:
        yield server


@pytest.fixture
def refused_url() -> Iterator[str]:
    with RefusingPort() as port:
        yield port.url


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def fast(**settings: Any) -> dict[str, Any]:
    return {**FAST, **settings}
