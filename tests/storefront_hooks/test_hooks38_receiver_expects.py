"""Outside test (item 4): what a receiver expects of delivery, over the
local receiver. Retry-After on a 429 or 503 is honoured and bounded; a
receiver too slow for our timeout is retried with backoff, and one that
answered 2xx after our timeout gets the same webhook-id again, signed so
that its verifier accepts it. (410, worker loss, retry schedule:
test_delivery.py and test_attempt_accounting.py.)"""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integrations.events import event_emit
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db


def _emit(order_id: str = "ord_1") -> WebhookDelivery:
    event = event_emit(name="payment.captured", payload={"order_id": order_id})
    services.event_fan_out(event)
    return WebhookDelivery.objects.get(event=event)


def _wait(delivery: WebhookDelivery, now: datetime) -> float:
    delivery.refresh_from_db()
    return (delivery.next_attempt_at - now).total_seconds()


def _sent(receiver) -> int:
    return len(receiver.requests_for("POST", HOOK_PATH))


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("120", 120),
        ("99999999999", 600),  # bounded by BREAKER_MAX_RETRY_AFTER_SECONDS
        ("http-date+300", 300),
        ("http-date+9999999", 600),
    ],
)
def test_retry_after_is_honoured_and_bounded(
    settings, receiver, make_endpoint, status, retry_after, expected
) -> None:
    # One 429 does not open the endpoint's breaker (5 failures in a row do:
    # test_attempt_accounting); the row itself waits as asked.
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 600.0
    make_endpoint()
    if retry_after.startswith("http-date+"):
        when = datetime.now(UTC) + timedelta(seconds=int(retry_after.split("+")[1]))
        retry_after = format_datetime(when, usegmt=True)
    receiver.route(
        "POST", HOOK_PATH, respond(status, headers={"Retry-After": retry_after})
    )
    delivery = _emit()
    now = timezone.now()

    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "failed"
    assert expected - 5 <= _wait(delivery, now) <= expected * 1.2 + 1
    # Not sent again before then: a task run early leaves it alone.
    soon = now + timedelta(seconds=6)
    assert services.delivery_send(delivery_id=delivery.pk, now=soon) is None
    assert _sent(receiver) == 1
    assert services.deliveries_sweep(now=soon) == 0


@pytest.mark.parametrize("retry_after", ["-5", "soon", "", "0"])
def test_a_malformed_retry_after_is_a_plain_failure(
    receiver, make_endpoint, retry_after
) -> None:
    make_endpoint()
    receiver.route(
        "POST", HOOK_PATH, respond(429, headers={"Retry-After": retry_after})
    )
    delivery = _emit()
    now = timezone.now()
    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "failed"
    assert 4 <= _wait(delivery, now) <= 6  # the schedule's 5 s step


def test_a_2xx_after_our_timeout_is_sent_again_with_the_same_id(
    settings, receiver, make_endpoint
) -> None:
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 0.5
    _endpoint, secret = make_endpoint()
    # The receiver does the work, then answers after our read timeout.
    receiver.route("POST", HOOK_PATH, respond(200, latency=1.5), respond(200))
    delivery = _emit()
    now = timezone.now()

    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "failed"
    delivery.refresh_from_db()
    assert "did not answer in time" in delivery.last_error
    assert 4 <= _wait(delivery, now) <= 6  # backoff: the 5 s step
    later = delivery.next_attempt_at
    assert services.delivery_send(delivery_id=delivery.pk, now=later) == "delivered"

    first, second = receiver.requests_for("POST", HOOK_PATH)
    assert first.header("webhook-id") == second.header("webhook-id")
    assert first.header("webhook-id") == delivery.public_id
    assert first.body == second.body
    for request in (first, second):
        message = Webhook(secret).verify(request.body, request.headers)
        assert message["data"]["order_id"] == "ord_1"
    stamps = [int(r.header("webhook-timestamp")) for r in (first, second)]
    assert stamps == [int(now.timestamp()), int(later.timestamp())]
