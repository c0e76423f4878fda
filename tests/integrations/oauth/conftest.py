"""A token endpoint and an API on a local fault server, and an account whose
client talks to them quickly."""

from collections.abc import Iterator

import pytest

from integrations.models import ProviderAccount
from integrations.testing.faultserver import FaultServer, fault_server, respond
from tests.factories import ProviderAccountFactory

TOKEN_PATH = "/v1/oauth2/token"
API_PATH = "/v1/things/42"
CLIENT_ID = "client-id-switchyard-0001"
SECRET = "client-secret-switchyard-0001"
FAST = {
    "connect_timeout": 1,
    "read_timeout": 2,
    "deadline_seconds": 5,
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "breaker_consecutive_failures": 50,
}


def token_body(token: str = "tok-1", expires_in: int = 3600) -> dict:
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": "https://uri.example/payments",
    }


class WallClock:
    """A wall clock moved by hand, for expiry."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server(hang_limit=5) as fault:
        fault.route("POST", TOKEN_PATH, respond(200, json=token_body()))
        fault.route("GET", API_PATH, respond(200, json={"id": "42"}))
        yield fault


@pytest.fixture
def account(db) -> ProviderAccount:
    return ProviderAccountFactory(
        slug="oauth-acct",
        settings=dict(FAST),
        credentials={"client_id": CLIENT_ID, "client_secret": SECRET},
    )


@pytest.fixture
def clock() -> WallClock:
    return WallClock()
