"""Proxy and CA-bundle settings from the environment: read once per origin
by the client's session, with the meaning requests gives them."""

import pytest
import requests

from integrations.client import ProviderClient
from integrations.errors import NotProcessed
from integrations.testing.faultserver import respond

pytestmark = pytest.mark.django_db

_PROXY_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def new_client(account, fake_time):
    # Where a request goes is what is tested here, not how fast the local
    # server answers: FAST_SETTINGS' 0.2 s read timed out on a loaded run
    # and the retry reached the server twice.
    account.settings = {**account.settings, "read_timeout": 10}
    account.save(update_fields=["settings"])
    made = []

    def make():
        # Built after the test set the environment, as a process would be.
        client = ProviderClient(account, clock=fake_time.clock, sleep=fake_time.sleep)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_https_proxy_from_the_environment_is_used(monkeypatch, new_client, refused_url):
    monkeypatch.setenv("HTTPS_PROXY", refused_url)

    with pytest.raises(NotProcessed) as caught:
        new_client().request(
            "GET", "https://provider.invalid/v1/x", operation="x", idempotent=True
        )

    # Not dns_failure: the request went to the (refusing) proxy.
    assert caught.value.code == "proxy_error"


def test_http_proxy_is_used_for_plain_http(monkeypatch, new_client, fault, refused_url):
    fault.route("GET", "/x", respond(200))
    monkeypatch.setenv("http_proxy", refused_url)

    with pytest.raises(NotProcessed) as caught:
        new_client().request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert caught.value.code == "proxy_error"
    assert fault.requests == []


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
def test_no_proxy_sends_the_host_direct(
    monkeypatch, new_client, fault, refused_url, no_proxy
):
    fault.route("GET", "/x", respond(200))
    monkeypatch.setenv("HTTP_PROXY", refused_url)
    monkeypatch.setenv("NO_PROXY", no_proxy)

    new_client().request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert len(fault.requests) == 1


def test_no_proxy_with_a_port_only_bypasses_that_port(
    monkeypatch, new_client, fault, refused_url
):
    # As in requests, "host:port" entries match host names, not IP addresses.
    fault.route("GET", "/x", respond(200))
    monkeypatch.setenv("HTTP_PROXY", refused_url)
    port = fault.url.rsplit(":", 1)[1]
    monkeypatch.setenv("NO_PROXY", f"localhost:{port}")
    client = new_client()

    client.request("GET", f"http://localhost:{port}/x", operation="x", idempotent=True)
    with pytest.raises(NotProcessed) as caught:
        client.request(
            "GET", "http://localhost:1/x", operation="other_port", idempotent=True
        )

    assert len(fault.requests) == 1
    assert caught.value.code == "proxy_error"


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"HTTPS_PROXY": "http://proxy.example:3128"},
        {"https_proxy": "http://p:3128", "no_proxy": "api.example.com"},
        {"HTTP_PROXY": "http://p:1", "HTTPS_PROXY": "http://p:2", "NO_PROXY": ".corp"},
        {"ALL_PROXY": "socks5://p:1080", "NO_PROXY": "*"},
        {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "api.example.com:8443"},
        {"REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"},
        {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem"},
    ],
)
@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/charges",
        "https://api.example.com:8443/v1",
        "http://erp.corp/odata",
        "http://10.0.0.5:8080/x",
    ],
)
def test_same_settings_as_plain_requests(monkeypatch, new_client, environment, url):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    session = new_client().session
    plain = requests.Session()

    for request_proxies in ({}, {"no_proxy": "example.com"}):
        ours = session.merge_environment_settings(
            url, dict(request_proxies), None, None, None
        )
        theirs = plain.merge_environment_settings(
            url, dict(request_proxies), None, None, None
        )
        assert ours["verify"] == theirs["verify"]
        assert ours["stream"] == theirs["stream"]
        assert ours["cert"] == theirs["cert"]
        assert dict(ours["proxies"]) == dict(theirs["proxies"])


def test_environment_is_read_once_per_origin(monkeypatch, new_client):
    client = new_client()
    url = "https://api.example.com/v1"
    before = client.session.merge_environment_settings(url, {}, None, None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")

    again = client.session.merge_environment_settings(url, {}, None, None, None)
    fresh = new_client().session.merge_environment_settings(url, {}, None, None, None)

    assert before["proxies"] == again["proxies"] == {}
    assert fresh["proxies"]["https"] == "http://proxy.example:3128"


def test_trust_env_off_ignores_the_environment(monkeypatch, new_client):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    session = new_client().session
    session.trust_env = False

    merged = session.merge_environment_settings(
        "https://api.example.com/", {}, None, None, None
    )

    assert merged["proxies"] == {}
    assert merged["verify"] is True


def test_session_proxies_still_apply(new_client):
    session = new_client().session
    session.proxies = {"https": "http://session-proxy:3128"}

    merged = session.merge_environment_settings(
        "https://api.example.com/", {"http": None}, None, None, None
    )

    assert merged["proxies"] == {"https": "http://session-proxy:3128"}
