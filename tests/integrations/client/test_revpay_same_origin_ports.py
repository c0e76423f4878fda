"""The same-origin redirect rule against the URL forms of one origin: a
default port written out (https://h and https://h:443) is the same origin, so
followed; an upgrade from http to https on the same host is followed (nothing
leaves the host, and it leaves plain text); a downgrade, another port or
another host is refused before anything is sent there."""

import pytest
import responses

from integrations.client import ProviderClient
from integrations.errors import NotProcessed

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(account, fake_time):
    client = ProviderClient(account, clock=fake_time.clock, sleep=fake_time.sleep)
    yield client
    client.close()


@pytest.mark.parametrize(
    ("start", "location"),
    [
        ("https://api.example.com/a", "https://api.example.com:443/b"),
        ("https://api.example.com:443/a", "https://api.example.com/b"),
        ("http://api.example.com/a", "https://api.example.com/b"),
        ("http://api.example.com:80/a", "https://api.example.com:443/b"),
    ],
)
def test_one_origin_written_two_ways_is_followed(client, start, location):
    with responses.RequestsMock() as rsps:
        rsps.get(start, status=307, headers={"Location": location})
        rsps.get(location, json={"ok": True})
        answer = client.request("GET", start, operation="get", idempotent=True)
    assert answer.json() == {"ok": True}


@pytest.mark.parametrize(
    "location",
    [
        "http://api.example.com/b",  # downgrade
        "https://api.example.com:8443/b",  # another port
        "https://evil.example.net/b",  # another host
    ],
)
def test_another_origin_is_refused(client, location):
    start = "https://api.example.com/a"
    with responses.RequestsMock() as rsps:
        rsps.get(start, status=307, headers={"Location": location})
        with pytest.raises(NotProcessed) as refused:
            client.request("GET", start, operation="get", idempotent=True)
        assert len(rsps.calls) == 1  # nothing went to the other origin
    assert refused.value.code == "redirected"
