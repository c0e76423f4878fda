"""Outside review: a staff login without the change permission can neither
resend, disable, enable, discard, rotate, test nor edit an endpoint through
the admin, whichever door it tries; the secret never shows on a page."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db

ENDPOINTS = "/admin/storefront_hooks/webhookendpoint/"
DELIVERIES = "/admin/storefront_hooks/webhookdelivery/"


def _staff(*codenames: str) -> Client:
    user = User.objects.create_user("staff-" + "-".join(codenames), is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def _action(client: Client, url: str, action: str, pk: int, **extra) -> int:
    data = {"action": action, "index": "0", "_selected_action": [str(pk)], **extra}
    return client.post(url, data).status_code


@pytest.fixture
def viewer() -> Client:
    return _staff("view_webhookendpoint", "view_webhookdelivery")


def test_view_only_staff_cannot_disable_enable_or_discard(viewer, make_endpoint):
    endpoint, _ = make_endpoint()
    _action(viewer, ENDPOINTS, "disable_endpoints", endpoint.pk)
    endpoint.refresh_from_db()
    assert endpoint.enabled

    services.endpoint_disable(endpoint=endpoint, reason="Disabled by the API.")
    waiting = services.test_event_send(endpoint=endpoint)
    _action(viewer, ENDPOINTS, "enable_endpoints", endpoint.pk)
    _action(viewer, ENDPOINTS, "discard_waiting", endpoint.pk, post="yes")
    endpoint.refresh_from_db()
    waiting.refresh_from_db()
    assert not endpoint.enabled
    assert waiting.status == "pending"


def test_view_only_staff_cannot_send_again(viewer, make_endpoint) -> None:
    endpoint, _ = make_endpoint()
    delivery = services.test_event_send(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="dead", attempts=12)
    for client in (viewer, _staff("view_webhookdelivery", "change_webhookdelivery")):
        _action(client, DELIVERIES, "send_again", delivery.pk)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("dead", 12)


def test_view_only_staff_cannot_rotate_test_or_edit(viewer, make_endpoint) -> None:
    endpoint, secret = make_endpoint()
    before = endpoint.secrets_encrypted
    name = "admin:storefront_hooks_webhookendpoint_"
    rotate = reverse(f"{name}rotate", args=[endpoint.pk])
    test = reverse(f"{name}test", args=[endpoint.pk])
    assert viewer.post(rotate).status_code == 403
    assert viewer.post(test).status_code == 403
    change = f"{ENDPOINTS}{endpoint.pk}/change/"
    viewer.post(change, {"url": "https://evil.example/x", "event_types": "payment.*"})
    assert viewer.post(f"{ENDPOINTS}{endpoint.pk}/delete/", {"post": "yes"}).status_code
    endpoint.refresh_from_db()
    assert endpoint.secrets_encrypted == before
    assert endpoint.url != "https://evil.example/x"
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()

    page = viewer.get(change).content.decode()
    assert secret not in page and before not in page
