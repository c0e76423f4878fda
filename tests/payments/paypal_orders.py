"""Shared by the PayPal approved-order tests: a PayPal account whose token
endpoint answers, the order the fixtures approve
(tests/fixtures/paypal/order_approved_*.json) and fast retries."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import responses

from tests.factories import ProviderAccountFactory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "paypal"
BASE = "https://api-m.sandbox.paypal.com"
ORDER = "5O190127TN364715T"
ORDER_URL = f"{BASE}/v2/checkout/orders/{ORDER}"
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "breaker_consecutive_failures": 50,
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@contextmanager
def paypal_account() -> Iterator[responses.RequestsMock]:
    """The primary PayPal account, and PayPal answering its token request;
    the test adds the order's answers to the mock it yields."""
    ProviderAccountFactory(
        provider="paypal",
        slug="paypal-main",
        priority=1,
        settings=dict(FAST),
        credentials={"client_id": "AbCdEf-client", "client_secret": "EFgh-secret"},
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/v1/oauth2/token", json=load("oauth_token.json"))
        yield rsps
