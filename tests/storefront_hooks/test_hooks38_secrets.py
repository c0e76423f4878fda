"""Outside test (item 3): the signing secret is shown once (the create or
rotate answer, the admin page right after), and never after: not in a log
record, an error text, the admin's list, page or history, a delivery row or
its call-log row. A receiver's answer stored for staff is bounded and
cannot bring our secret back unmasked, whole, cut off at the bound, or as
the bare key or JSON-escaped."""

import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from integrations.models import ProviderCall
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints/"


@pytest.fixture
def logged(caplog) -> list[logging.LogRecord]:
    caplog.set_level(logging.DEBUG)
    return caplog.records


def _everything_logged(records: list[logging.LogRecord]) -> str:
    # Extras too: a JSON formatter writes every attribute of a record.
    return "\n".join(
        f"{r.getMessage()} {r.__dict__!r} {r.exc_text or ''}" for r in records
    )


def _pieces(secret: str) -> list[str]:
    """The secret, its key without the prefix, and a 12-character piece of
    the key (one that no ordinary text would hold)."""
    key = secret.removeprefix("whsec_")
    return [secret, key, key[:12], key[-12:]]


def _assert_absent(secret: str, text: str) -> None:
    for piece in _pieces(secret):
        assert piece not in text, piece


def _deliveries_stored(endpoint: WebhookEndpoint) -> str:
    rows = list(WebhookDelivery.objects.filter(endpoint=endpoint).values())
    calls = list(ProviderCall.objects.filter(account=endpoint.account).values())
    return json.dumps([rows, calls], default=str)


def test_the_api_shows_the_secret_only_in_the_create_and_rotate_answers(
    api, receiver, logged
) -> None:
    url = receiver.url_for(HOOK_PATH)
    created = api.post(BASE, {"url": url, "event_types": ["payment.*"]}, format="json")
    first = created.json()["secret"]
    rotated = api.post(f"{BASE}{created.json()['id']}/rotate-secret/").json()
    second = rotated["secret"]
    assert first != second
    reads = [
        api.get(BASE).content.decode(),
        api.get(f"{BASE}{created.json()['id']}/").content.decode(),
        api.patch(
            f"{BASE}{created.json()['id']}/", {"description": "x"}, format="json"
        ).content.decode(),
        api.post(f"{BASE}{created.json()['id']}/test/").content.decode(),
    ]
    for secret in (first, second):
        _assert_absent(secret, "\n".join(reads))
        _assert_absent(secret, _everything_logged(logged))


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_shows_the_secret_once_and_never_again(
    staff, receiver, logged
) -> None:
    add = reverse("admin:storefront_hooks_webhookendpoint_add")
    form = {
        "url": receiver.url_for(HOOK_PATH),
        "description": "",
        "event_types": "payment.*",
        "mode": "test",
    }
    page = staff.post(add, form)
    endpoint = WebhookEndpoint.objects.get()
    (secret,) = endpoint.signing_secrets()
    assert secret in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    rotate = reverse(
        "admin:storefront_hooks_webhookendpoint_rotate", args=[endpoint.pk]
    )
    staff.post(rotate)
    staff.post(
        reverse("admin:storefront_hooks_webhookendpoint_change", args=[endpoint.pk]),
        {**form, "description": "changed"},
    )
    pages = [
        reverse("admin:storefront_hooks_webhookendpoint_changelist"),
        reverse("admin:storefront_hooks_webhookendpoint_change", args=[endpoint.pk]),
        reverse("admin:storefront_hooks_webhookendpoint_history", args=[endpoint.pk]),
        reverse("admin:integrations_provideraccount_changelist"),
        reverse(
            "admin:integrations_provideraccount_change", args=[endpoint.account_id]
        ),
        "/admin/",
    ]
    shown = []
    for path in pages:
        answer = staff.get(path)
        assert answer.status_code in (200, 302, 403, 404), path
        shown.append(answer.content.decode())
    endpoint.refresh_from_db()
    for value in (secret, *endpoint.signing_secrets()):
        _assert_absent(value, "\n".join(shown))
        _assert_absent(value, _everything_logged(logged))


def _send(endpoint: WebhookEndpoint) -> WebhookDelivery:
    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def _echo(body: bytes, status: int = 500):
    return respond(status, body=body)


@pytest.mark.parametrize(
    "shape",
    [
        "whole",  # a debug page quoting its configuration
        "key",  # the key as libraries hold it, without whsec_
        "json",  # JSON-escaped: "\/" for each "/" of the base64
        "cut",  # cut off by the stored excerpt's bound
        "twice",  # whole (masked, so shorter), then cut off
    ],
)
def test_a_receiver_cannot_bring_the_secret_back_into_the_stored_answer(
    settings, receiver, make_endpoint, logged, shape
) -> None:
    settings.STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES = 256
    endpoint, secret = make_endpoint()
    # A key with a "/" in it, so that its JSON escape differs.
    while "/" not in secret:
        secret = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=0)
    key = secret.removeprefix("whsec_")
    echoed = {
        "whole": f"config: secret={secret} end",
        "key": f"config: key={key} end",
        "json": json.dumps({"secret": secret}).replace("/", "\\/"),
        "cut": "x" * (256 - 30) + secret,
        "twice": secret + "x" * (256 - 30 - len(secret)) + secret,
    }[shape]
    receiver.route("POST", HOOK_PATH, _echo(echoed.encode()))

    delivery = _send(endpoint)

    assert delivery.status == "failed"
    assert len(delivery.last_response.encode()) <= 256
    assert "[redacted]" in delivery.last_response
    _assert_absent(secret, _deliveries_stored(endpoint))
    _assert_absent(secret, _everything_logged(logged))


def test_a_secret_no_key_decrypts_is_not_in_the_error_text(
    settings, receiver, make_endpoint, logged
) -> None:
    endpoint, secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    # The key that sealed it is gone from the configuration.
    settings.CREDENTIALS_ENCRYPTION_KEYS = [
        "bm90LXRoZS1rZXktdGhhdC1zZWFsZWQtaXQtMDAwMDA="
    ]

    delivery = _send(endpoint)

    assert delivery.status == "failed"
    assert delivery.last_error.startswith("Failed on our side")
    assert receiver.requests == []
    _assert_absent(secret, _deliveries_stored(endpoint))
    _assert_absent(secret, _everything_logged(logged))
    assert endpoint.secrets_encrypted not in _everything_logged(logged)
