"""Review of hooks38: a receiver's answer cut off before the excerpt's bound
(our deadline ends a slow body; a dropped connection does too) cannot leave
the head of our signing secret unmasked on the row either."""

import pytest

from integrations.testing.faultserver import Behaviour
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def test_a_secret_cut_off_by_the_deadline_is_masked(
    settings, receiver, make_endpoint
) -> None:
    settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = 0.5
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 0.5
    endpoint, secret = make_endpoint()
    # A byte every 0.04 s: at the 1 s deadline "secret=" and 18 or more of
    # the secret's 50 characters are in, never the whole of it (2.3 s).
    body = f"secret={secret}".encode()
    receiver.route("POST", HOOK_PATH, Behaviour("trickle", 500, body=body, gap=0.04))

    delivery = services.test_event_send(endpoint=endpoint)
    services.delivery_send(delivery_id=delivery.pk)

    delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.last_status_code == 500
    assert delivery.last_response.startswith("secret=")
    assert len(delivery.last_response.encode()) < len(body)
    # Under 8 characters (a starved machine) is no head the mask looks for.
    head = delivery.last_response.removeprefix("secret=")
    assert head == "[redacted]" or len(head) < 8
    key = secret.removeprefix("whsec_")
    assert key[:8] not in delivery.last_response
