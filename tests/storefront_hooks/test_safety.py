"""Safety of outbound delivery: HTTPS in live mode, private addresses refused
(by the URL and by the address a connection reached), no redirects, response
bodies read only up to a limit."""

import pytest

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.safety import address_allowed
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def _deliver(endpoint) -> WebhookDelivery:
    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[::ffff:192.168.0.1]/hooks",
        "http://100.64.0.1/hooks",
        "http://localhost:8000/hooks",
    ],
)
def test_private_urls_are_refused_unless_allowed(settings, url) -> None:
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(services.EndpointInvalid) as caught:
        services.endpoint_create(url=url, event_types=["payment.*"])
    assert caught.value.param == "url"


def test_public_addresses_are_allowed(settings) -> None:
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    assert address_allowed("93.184.216.34")
    assert not address_allowed("224.0.0.1")


def test_a_name_resolving_to_loopback_is_refused_when_connecting(
    settings, receiver, make_endpoint
) -> None:
    endpoint, _ = make_endpoint()
    endpoint.url = f"http://localhost:{receiver.port}{HOOK_PATH}"
    endpoint.save()
    receiver.route("POST", HOOK_PATH, respond(200))
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    delivery = _deliver(endpoint)

    assert delivery.status == "failed"
    assert "private or reserved address" in delivery.last_error
    assert receiver.requests == []


def test_live_endpoints_need_https(make_endpoint) -> None:
    with pytest.raises(services.EndpointInvalid, match="https"):
        make_endpoint(mode="live")
    endpoint, _ = make_endpoint(url="https://127.0.0.1:9/hooks", mode="live")
    assert endpoint.mode == "live"


def test_urls_with_credentials_are_refused(make_endpoint) -> None:
    with pytest.raises(services.EndpointInvalid, match="user name"):
        make_endpoint(url="https://user:pw@127.0.0.1/hooks")


def test_redirects_are_not_followed(receiver, make_endpoint) -> None:
    endpoint, _ = make_endpoint()
    receiver.route(
        "POST", HOOK_PATH, respond(302, headers={"Location": receiver.url_for("/x")})
    )
    delivery = _deliver(endpoint)
    assert delivery.status == "failed"
    assert delivery.last_status_code == 302
    assert "redirects are not followed" in delivery.last_error
    assert receiver.requests_for("POST", "/x") == []


def test_response_bodies_are_stored_truncated(settings, receiver, make_endpoint):
    settings.STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES = 64
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200, body=b"x" * 100_000))
    delivery = _deliver(endpoint)
    assert delivery.status == "delivered"
    assert delivery.last_response == "x" * 64
