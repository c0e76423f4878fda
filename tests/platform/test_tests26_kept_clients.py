"""The process's client per account (``client_for``) keeps a keep-alive
connection; every test makes new accounts, so the suite closes them after
each test (tests/conftest.py). In order: the first test leaves one open, the
second finds it closed (task tests26)."""

import pytest

from integrations.client import client_for
from integrations.testing.faultserver import FaultServer, respond
from tests.factories import ProviderAccountFactory
from tests.platform.tests26_sockets import HAS_PROC, sockets_to

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not HAS_PROC, reason="needs /proc"),
]
SEEN: dict[str, int] = {}


def test_a_client_for_an_account_keeps_its_connection():
    account = ProviderAccountFactory(settings={})
    with FaultServer() as server:
        server.route("GET", "/ping", respond(200, json={"ok": True}))
        client = client_for(account)
        client.request(
            "GET", server.url_for("/ping"), operation="ping", idempotent=True
        )
        SEEN["port"] = server.port
        assert sockets_to(server.port) == 1


def test_the_next_test_finds_it_closed():
    if "port" not in SEEN:
        pytest.skip("runs after the test above")
    assert sockets_to(SEEN["port"]) == 0
