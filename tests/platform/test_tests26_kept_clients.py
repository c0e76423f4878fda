"""The process's client per account (``client_for``) keeps a keep-alive
connection; every test makes new accounts, so the suite closes them after
each test (tests/conftest.py). In order: the first test leaves one open, the
second finds it closed (task tests26)."""

import os
from pathlib import Path

import pytest

from integrations.client import client_for
from integrations.testing.faultserver import FaultServer, respond
from tests.factories import ProviderAccountFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc"),
]
SEEN: dict[str, int] = {}


def _sockets_to(port: int) -> int:
    """Descriptors of this process on a TCP connection to ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.startswith("socket:[") and target[8:-1] in inodes
    return count


def test_a_client_for_an_account_keeps_its_connection():
    account = ProviderAccountFactory(settings={})
    with FaultServer() as server:
        server.route("GET", "/ping", respond(200, json={"ok": True}))
        client = client_for(account)
        client.request(
            "GET", server.url_for("/ping"), operation="ping", idempotent=True
        )
        SEEN["port"] = server.port
        assert _sockets_to(server.port) == 1


def test_the_next_test_finds_it_closed():
    if "port" not in SEEN:
        pytest.skip("runs after the test above")
    assert _sockets_to(SEEN["port"]) == 0
