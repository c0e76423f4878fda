"""The webhook-endpoints API: scope, secret shown once, rotation, test event,
disable/enable, validation errors in the API's error shape."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from integrations.models import ProviderAccount
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.services import endpoints as endpoints_module
from storefront_hooks.services.deliveries import render_body
from tests.factories import ApiKeyFactory
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints/"


def _create(api: APIClient, receiver, **extra: object):
    body = {"url": receiver.url_for(HOOK_PATH), "event_types": ["payment.*"], **extra}
    return api.post(BASE, body, format="json")


def test_needs_the_webhooks_manage_scope(receiver) -> None:
    client = APIClient()
    key = ApiKeyFactory(scopes=["payments:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    assert client.get(BASE).status_code == 403
    assert _create(client, receiver).status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_create_shows_the_secret_once_and_stores_it_encrypted(api, receiver) -> None:
    answer = _create(api, receiver, description="shop")
    assert answer.status_code == 201
    secret = answer.json()["secret"]
    assert secret.startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(public_id=answer.json()["id"])
    assert secret not in endpoint.secrets_encrypted
    assert endpoint.signing_secrets() == [secret]

    read = api.get(f"{BASE}{endpoint.public_id}/").json()
    listed = api.get(BASE).json()["results"]
    assert "secret" not in read and secret not in str(listed)
    assert listed[0]["id"] == endpoint.public_id


def test_bad_input_is_a_400_with_the_param(api, receiver) -> None:
    answer = _create(api, receiver, event_types=["payment.nope"])
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "event_types"
    answer = _create(api, receiver, mode="live")
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "url"


def test_rotate_then_test_event_is_signed_with_both(
    api, receiver, django_capture_on_commit_callbacks
) -> None:
    receiver.route("POST", HOOK_PATH, respond(200))
    created = _create(api, receiver).json()
    rotated = api.post(f"{BASE}{created['id']}/rotate-secret/")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != created["secret"]

    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(f"{BASE}{created['id']}/test/")
    assert sent.status_code == 202
    (request,) = receiver.requests_for("POST", HOOK_PATH)  # Q_SYNC: sent inline
    for secret in (created["secret"], new):
        message = Webhook(secret).verify(request.body, request.headers)
        assert message["type"] == "webhook.test"
    delivery = WebhookDelivery.objects.get(public_id=sent.json()["id"])
    assert delivery.status == "delivered"


def test_disable_and_enable_through_patch(api, receiver) -> None:
    created = _create(api, receiver).json()
    url = f"{BASE}{created['id']}/"
    off = api.patch(url, {"enabled": False}, format="json").json()
    assert off["enabled"] is False and off["disabled_reason"]
    on = api.patch(url, {"enabled": True, "description": "back"}, format="json")
    assert on.json()["enabled"] is True and on.json()["description"] == "back"


def test_delete_removes_the_endpoint_and_its_account(api, receiver) -> None:
    created = _create(api, receiver).json()
    endpoint = WebhookEndpoint.objects.get(public_id=created["id"])
    assert api.delete(f"{BASE}{created['id']}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert not ProviderAccount.objects.filter(pk=endpoint.account_id).exists()
    assert api.get(f"{BASE}{created['id']}/").status_code == 404


def test_a_patch_of_an_endpoint_deleted_meanwhile_is_a_404(
    api, receiver, monkeypatch
) -> None:
    """Deleted between the PATCH's load and its locked save: 404, as for an
    endpoint already gone."""
    endpoint, _secret = services.endpoint_create(
        url=receiver.url_for(HOOK_PATH), event_types=["payment.*"]
    )
    check = endpoints_module.endpoint_check

    def check_then_delete(*args):
        check(*args)
        services.endpoint_delete(endpoint=endpoint)

    monkeypatch.setattr(endpoints_module, "endpoint_check", check_then_delete)
    response = api.patch(
        f"{BASE}{endpoint.public_id}/",
        {"description": "billing"},
        format="json",
    )
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"


def test_a_patch_loaded_before_a_410_does_not_re_enable_the_endpoint(
    api, receiver
) -> None:
    """The PATCH loads the endpoint, checks the URL (DNS), then saves: a 410
    settled and a secret rotated meanwhile stay (not enabled=True, the old
    streak or the old secret written back)."""
    endpoint, _secret = services.endpoint_create(
        url=receiver.url_for(HOOK_PATH), event_types=["payment.*"]
    )
    receiver.route("POST", HOOK_PATH, respond(410))
    body = render_body("payment.captured", timezone.now(), {"order_id": "ord_1"})
    row = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="payment.captured", body=body
    )
    stale = WebhookEndpoint.objects.select_related("account").get(pk=endpoint.pk)

    assert services.delivery_send(delivery_id=row.pk) == "failed"
    new_secret = services.endpoint_secret_rotate(endpoint=endpoint)
    services.endpoint_update(endpoint=stale, description="billing")

    endpoint.refresh_from_db()
    assert endpoint.description == stale.description == "billing"
    seen = (
        endpoint.signing_secrets()[0] == new_secret,
        endpoint.enabled,
        endpoint.disabled_reason,
        endpoint.failing_since is None,
    )
    assert seen == (True, False, "The endpoint answered 410 Gone.", False)
    assert not stale.enabled  # the caller's copy is the stored row
