"""Outside review: a secret rotated again during an overlap. The receiver
still holding the first secret must keep verifying until that secret's own
overlap ends, not lose it at the second rotation (a double click on *Rotate
secret*, a retried API call)."""

from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.services.clock import database_now
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def _send_test(endpoint):
    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_a_second_rotation_keeps_the_first_secret_for_its_overlap(
    receiver, make_endpoint
) -> None:
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint, first = make_endpoint()
    second = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=2)
    third = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=1)

    _send_test(endpoint)

    (request,) = receiver.requests_for("POST", HOOK_PATH)
    for secret in (first, second, third):
        Webhook(secret).verify(request.body, request.headers)


def test_each_earlier_secret_signs_until_its_own_overlap_ends(make_endpoint) -> None:
    endpoint, first = make_endpoint()
    second = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=2)
    third = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=1)
    endpoint.refresh_from_db()
    now = database_now()

    assert endpoint.signing_secrets(now) == [third, second, first]
    later = endpoint.signing_secrets(now + timedelta(minutes=90))
    assert later == [third, first]
    assert endpoint.signing_secrets(now + timedelta(hours=3)) == [third]


def test_rotating_in_a_loop_keeps_the_signature_header_bounded(
    receiver, make_endpoint
) -> None:
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint, first = make_endpoint()
    for _ in range(20):
        last = services.endpoint_secret_rotate(endpoint=endpoint)

    _send_test(endpoint)

    (request,) = receiver.requests_for("POST", HOOK_PATH)
    assert len(request.header("webhook-signature").split(" ")) <= 6
    Webhook(last).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(first).verify(request.body, request.headers)


def test_an_earlier_secret_echoed_by_the_endpoint_is_masked(
    receiver, make_endpoint
) -> None:
    endpoint, first = make_endpoint()
    services.endpoint_secret_rotate(endpoint=endpoint)
    services.endpoint_secret_rotate(endpoint=endpoint)
    receiver.route("POST", HOOK_PATH, respond(400, body=f"bad: {first}".encode()))

    delivery = _send_test(endpoint)

    assert delivery.last_status_code == 400
    assert first not in delivery.last_response
