"""Review of hooks38: a Retry-After is a wait from the answer, not from the
claim. A receiver that takes 1.5 s to answer 429 "Retry-After: 2" must not
be asked again 2 s after we began the POST (0.5 s after its answer)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.events import event_emit
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db
LATENCY = 1.5
RETRY_AFTER = 2


def test_retry_after_counts_from_the_answer_not_the_claim(
    settings, receiver, make_endpoint
) -> None:
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 600.0
    # A schedule step shorter than the wait asked for, so the wait decides.
    settings.STOREFRONT_WEBHOOK_RETRY_SCHEDULE = [1, 1]
    settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS = 3
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 10.0  # room for the latency
    make_endpoint()
    receiver.route(
        "POST",
        HOOK_PATH,
        respond(429, headers={"Retry-After": str(RETRY_AFTER)}, latency=LATENCY),
    )
    event = event_emit(name="payment.captured", payload={"order_id": "ord_1"})
    services.event_fan_out(event)
    delivery = WebhookDelivery.objects.get(event=event)
    now = timezone.now()

    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "failed"

    delivery.refresh_from_db()
    answered = now + timedelta(milliseconds=delivery.last_duration_ms)
    assert delivery.last_duration_ms >= LATENCY * 1000 * 0.9
    wait = (delivery.next_attempt_at - answered).total_seconds()
    assert RETRY_AFTER <= wait <= RETRY_AFTER * 1.2 + 0.01
