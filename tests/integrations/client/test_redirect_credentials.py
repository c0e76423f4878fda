"""A provider's credentials ride in headers of its own (Postmark's
``X-Postmark-Server-Token``, an API key header, Stripe's ``Authorization``).
requests drops only ``Authorization`` when a redirect leaves the origin, so
under the ``FOLLOW`` rule (an adapter that documents such redirects) the
shared session drops every header but the plain ones there: a redirect (a
hijacked DNS name, a misconfigured base URL) never carries a secret to another
host. Every other adapter refuses it (tests/integrations/test_redir_*.py)."""

import pytest

from integrations.client import ClientConfig, ProviderClient
from integrations.client.redirects import FOLLOW
from integrations.testing.faultserver import fault_server, respond

pytestmark = pytest.mark.django_db

SECRET = "server-token-0123456789abcdef"
CREDENTIALS = {
    "X-Postmark-Server-Token": SECRET,
    "X-Api-Key": SECRET,
    "Authorization": f"Bearer {SECRET}",
    "Cookie": f"session={SECRET}",
}


@pytest.fixture
def following_client(account, fake_time):
    config = ClientConfig.for_account(account)
    config = ClientConfig(**{**config.__dict__, "redirects": FOLLOW})
    client = ProviderClient(
        account, config=config, clock=fake_time.clock, sleep=fake_time.sleep
    )
    yield client
    client.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_carries_no_credential(
    following_client, fault, status
):
    with fault_server() as elsewhere:
        elsewhere.route("GET", "/collect", respond(200, json={}))
        elsewhere.route("POST", "/collect", respond(200, json={}))
        target = elsewhere.url_for("/collect")
        fault.route("POST", "/email", respond(status, headers={"Location": target}))

        following_client.request(
            "POST",
            fault.url_for("/email"),
            operation="send",
            idempotent=True,
            headers={**CREDENTIALS, "Accept": "application/json"},
            json={"To": "ada@example.com"},
        )

        (arrived,) = elsewhere.requests
    for name in CREDENTIALS:
        assert arrived.header(name) is None, name
    assert SECRET not in str(arrived.headers)
    assert arrived.header("Accept") == "application/json"  # plain headers kept


def test_a_redirect_on_the_same_origin_keeps_them(client, fault):
    fault.route("GET", "/old", respond(301, headers={"Location": "/new"}))
    fault.route("GET", "/new", respond(200, json={}))

    client.request(
        "GET",
        fault.url_for("/old"),
        operation="get",
        idempotent=True,
        headers={"X-Api-Key": SECRET},
    )

    arrived = fault.requests_for("GET", "/new")[0]
    assert arrived.header("X-Api-Key") == SECRET
