"""Review of hooks38b: the stored answer's masking (services/excerpt.py) must
keep masking what it masked before it learnt to undo escapes. A secret's
head cut off where the answer ends is masked whether the bound falls right
after the "\\" of a JSON "\\/" or inside a secret that holds a literal "%41"
(a provider's credential). And the admin, like the API, lets staff change
another field of an endpoint stored with a repeated event type."""

import json

import pytest

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import ProviderAccountFactory
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def _stored_answer(settings, receiver, endpoint: WebhookEndpoint, body: str) -> str:
    settings.STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES = len(body.encode())
    receiver.route("POST", HOOK_PATH, respond(500, body=(body + "tail").encode()))
    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)
    return WebhookDelivery.objects.get(pk=delivery.pk).last_response


def _with_late_slash(endpoint: WebhookEndpoint, secret: str) -> str:
    # A "/" well past the shortest head masked (8 characters).
    while secret.find("/", 20) == -1:
        secret = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=0)
    return secret


def test_a_json_escaped_secret_cut_right_after_its_backslash_is_masked(
    settings, receiver, make_endpoint
) -> None:
    endpoint, secret = make_endpoint()
    secret = _with_late_slash(endpoint, secret)
    escaped = json.dumps({"echo": secret}).replace("/", "\\/")
    # The bound falls between the "\" and the "/" of the last escape.
    cut = escaped[: escaped.rindex("\\/") + 1]
    assert cut.endswith("\\")

    stored = _stored_answer(settings, receiver, endpoint, cut)

    head = secret[: secret.rindex("/")]
    assert head[:8] not in stored, stored
    assert stored.endswith("[redacted]"), stored


def test_a_credential_holding_a_percent_escape_cut_off_is_masked(
    settings, receiver, make_endpoint
) -> None:
    credential = "sk_live_abcdefgh%41ijklmnopqrstuvwxyz"
    ProviderAccountFactory(credentials={"api_key": credential})
    endpoint, _ = make_endpoint()
    # Cut after "%41i": undoing "%41" would make it no head of the credential.
    body = "echo " + credential[: credential.index("%41") + 4]

    stored = _stored_answer(settings, receiver, endpoint, body)

    assert stored == "echo [redacted]", stored


def test_the_admin_changes_another_field_of_an_endpoint_stored_with_repeats(
    admin_client,
) -> None:
    # A row written before repeats were refused: as through the API, its
    # description can be changed with its list left as it is.
    endpoint, _ = services.endpoint_create(
        url="http://127.0.0.1:9/hooks", event_types=["payment.*"]
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        event_types=["payment.*", "payment.*"]
    )
    page = f"/admin/storefront_hooks/webhookendpoint/{endpoint.pk}/change/"
    form = admin_client.get(page).context["adminform"].form
    data = {
        "url": endpoint.url,
        "description": "kept",
        "event_types": form.initial["event_types"],
        "mode": endpoint.mode,
    }

    answer = admin_client.post(page, data)

    assert answer.status_code == 302, answer.context["adminform"].form.errors
    endpoint.refresh_from_db()
    assert endpoint.description == "kept"
