"""r-hooks42: lifting a Retry-After hold makes due the rows the hold held,
the one whose 429 or 503 asked for the wait included (hooks42), not a row
answered 503 without a Retry-After that waits on its own retry schedule,
past the hold's end: the receiver asked no wait of it, the hold never held
it, and the lift would send it hours early."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.conftest import HOOK_PATH
from tests.storefront_hooks.hold_setup import waiting_deliveries

pytestmark = pytest.mark.django_db
HOLD_SECONDS = 300
BACKOFF_SECONDS = 3600


@pytest.fixture(autouse=True)
def _settings(settings) -> None:
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 600.0
    # A first failure waits seconds, a later one an hour (the real schedule's
    # shape): the 429'd row waits for its Retry-After, the 503'd for its step.
    settings.STOREFRONT_WEBHOOK_RETRY_SCHEDULE = [1, BACKOFF_SECONDS, BACKOFF_SECONDS]
    settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS = 6


def test_a_503_without_a_retry_after_keeps_its_schedule(
    receiver, make_endpoint, django_capture_on_commit_callbacks
) -> None:
    receiver.route(
        "POST",
        HOOK_PATH,
        respond(503),
        respond(429, headers={"Retry-After": str(HOLD_SECONDS)}),
        respond(200),
    )
    endpoint = make_endpoint()[0]
    backed_off, answered = waiting_deliveries(2, endpoint)
    WebhookDelivery.objects.filter(pk=backed_off.pk).update(attempts=2)
    assert services.delivery_send(delivery_id=backed_off.pk) == "failed"
    assert services.delivery_send(delivery_id=answered.pk) == "failed"
    backed_off.refresh_from_db()
    due = backed_off.next_attempt_at
    assert due > timezone.now() + timedelta(seconds=HOLD_SECONDS * 2)

    with django_capture_on_commit_callbacks(execute=True):
        queued = services.endpoint_hold_lift(endpoint=endpoint, actor="staff")

    assert queued == 1
    answered.refresh_from_db()
    backed_off.refresh_from_db()
    assert answered.status == "delivered"
    assert (backed_off.status, backed_off.next_attempt_at) == ("failed", due)
