"""r-hooks40: a character reference past Unicode's last code point
("&#9999999;") in a receiver's answer must not shift where the masked
spans land: the secret quoted after it (escaped, so only the unescaped copy
finds it) is still masked, and the answer is stored, not raised on."""

import pytest

from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services.excerpt import staff_excerpt
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def _secret_with_plus(endpoint, secret: str) -> str:
    while "+" not in secret.removeprefix("whsec_")[4:]:
        secret = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=0)
    return secret


def _escaped(secret: str) -> str:
    return secret.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def test_a_secret_after_an_out_of_range_reference_is_masked(make_endpoint):
    endpoint, secret = make_endpoint()
    secret = _secret_with_plus(endpoint, secret)
    for answer in (
        f"&#9999999; echo={_escaped(secret)}&x=1",
        f"&#x110000;&#x110000; {_escaped(secret)} ok",
    ):
        stored = staff_excerpt(answer)
        key = secret.removeprefix("whsec_")
        assert key[:12] not in stored.replace("%2B", "+").replace("%2F", "/")
        assert "[redacted]" in stored


def test_a_2xx_echoing_such_a_reference_is_delivered_once(receiver, make_endpoint):
    endpoint, secret = make_endpoint()
    secret = _secret_with_plus(endpoint, secret)
    answer = f"&#9999999; echo={_escaped(secret)}"
    receiver.route("POST", HOOK_PATH, respond(200, body=answer.encode()))
    delivery = services.test_event_send(endpoint=endpoint)

    status = services.delivery_send(delivery_id=delivery.pk)

    assert status == DeliveryStatus.DELIVERED
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert stored.status == DeliveryStatus.DELIVERED
    assert "[redacted]" in stored.last_response
