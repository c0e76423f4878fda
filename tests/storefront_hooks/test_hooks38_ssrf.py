"""Outside test (item 2): server-side request forgery with production's
setting (``STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` off; the test
settings turn it on for the local receiver). No inner address is accepted
at registration, nor reached at delivery: not by another spelling of it,
not by a name that resolves to one later, not by a redirect."""

import os
import socket
from unittest import mock

import pytest

from config import domains
from integrations.testing.faultserver import respond
from storefront_hooks import safety, services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints/"
INNER = [
    "http://127.0.0.1/hooks",
    "http://127.9.9.9/hooks",
    "http://10.0.0.1/hooks",
    "http://172.16.0.1/hooks",
    "http://192.168.1.1/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[::ffff:a9fe:a9fe]/hooks",
    "http://[::1]/hooks",
    "http://[::]/hooks",
    "http://[fe80::1]/hooks",
    "http://0.0.0.0/hooks",
    "http://2130706433/hooks",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/hooks",  # octal
    "http://0x7f.0.0.1/hooks",  # hex
    "http://0x7f000001/hooks",
    "http://127.1/hooks",  # short form
    "http://017700000001/hooks",
    "http://localhost/hooks",
    "http://LOCALHOST./hooks",
    "http://api.localhost/hooks",
    "http://100.64.0.1/hooks",  # carrier-grade NAT
    "http://198.18.0.1/hooks",  # benchmarking
    "http://224.0.0.1/hooks",  # multicast
    "http://255.255.255.255/hooks",
]
# Spellings of 127.0.0.1 the system resolver turns into it (inet_aton).
LOOPBACK_SPELLINGS = [
    "2130706433",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "127.1",
    "0",
    "0.0.0.0",  # noqa: S104 - a URL host, not a bind
    "[::ffff:127.0.0.1]",
    "localhost.",
]


@pytest.fixture
def production(settings) -> None:
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False


def test_production_refuses_inner_addresses_by_default() -> None:
    # The setting is on only where the environment says so (dev, tests).
    assert "STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES" not in os.environ
    assert domains.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES is False


@pytest.mark.parametrize("url", INNER)
def test_inner_addresses_are_refused_at_registration(api, production, url) -> None:
    answer = api.post(BASE, {"url": url, "event_types": ["payment.*"]}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "url"
    https = url.replace("http://", "https://")
    answer = api.post(
        BASE,
        {"url": https, "event_types": ["payment.*"], "mode": "live"},
        format="json",
    )
    assert answer.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def _deliver(endpoint: WebhookEndpoint) -> WebhookDelivery:
    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_a_stored_inner_url_is_never_connected_to(
    settings, receiver, make_endpoint, host
) -> None:
    # Stored by an older version or copied from a development database (the
    # URL checks refuse most of these spellings at registration).
    endpoint, _ = make_endpoint()
    endpoint.url = f"http://{host}:{receiver.port}{HOOK_PATH}"
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=endpoint.url)
    receiver.route("POST", HOOK_PATH, respond(200))
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    delivery = _deliver(endpoint)

    assert delivery.status == "failed"
    assert receiver.requests == []
    if host != "localhost.":  # no resolver here answers for it at all
        assert "private or reserved address" in delivery.last_error


def test_a_name_public_at_registration_and_private_at_delivery_is_refused(
    api, production, receiver
) -> None:
    real = socket.getaddrinfo
    answers = {"now": "93.184.216.34"}

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers["now"], port))]

    url = f"http://rebind.example:{receiver.port}{HOOK_PATH}"
    receiver.route("POST", HOOK_PATH, respond(200))
    with mock.patch.object(socket, "getaddrinfo", getaddrinfo):
        created = api.post(
            BASE, {"url": url, "event_types": ["payment.*"]}, format="json"
        )
        assert created.status_code == 201
        answers["now"] = "127.0.0.1"  # the attacker's DNS rebinds
        delivery = _deliver(WebhookEndpoint.objects.get())

    assert delivery.status == "failed"
    assert "private or reserved address" in delivery.last_error
    assert receiver.requests == []


@pytest.fixture
def receiver_is_public(production, receiver):
    """The local receiver stands for a public host; every other address is
    judged as production judges it."""
    real = safety.address_allowed

    def allowed(address: str) -> bool:
        return address == "127.0.0.1" or real(address)

    with mock.patch.object(safety, "address_allowed", allowed):
        yield receiver


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.2]:{port}/internal",
        "http://127.0.0.1:{port}/internal",
    ],
)
def test_a_redirect_to_an_inner_address_is_not_followed(
    receiver_is_public, make_endpoint, status, location
) -> None:
    receiver = receiver_is_public
    endpoint, _ = make_endpoint()
    target = location.format(port=receiver.port)
    receiver.route("POST", HOOK_PATH, respond(status, headers={"Location": target}))
    receiver.route("POST", "/internal", respond(200))
    receiver.route("GET", "/internal", respond(200))

    delivery = _deliver(endpoint)

    assert delivery.status == "failed"
    assert delivery.last_status_code == status
    assert "redirects are not followed" in delivery.last_error
    assert [r.path for r in receiver.requests] == [HOOK_PATH]
