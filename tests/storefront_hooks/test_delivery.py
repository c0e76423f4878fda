"""Delivery over a real local receiver: signed as Standard Webhooks (checked
with the ``standardwebhooks`` library's verifier), one delivery per matching
endpoint, retried on schedule with a stable webhook-id, 410 and long failure
disable the endpoint, re-enabling sends what waited."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.events import event_emit
from integrations.models import DeliveryStatus, ProviderCall
from integrations.testing.faultserver import RefusingPort, hang, respond, trickle
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services.rows import retry_delay_for
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db

PAYLOAD = {"payment_id": "pay_1", "order_id": "ord_1", "amount": 1050}


def _emit(name: str = "payment.captured", **payload: object) -> WebhookDelivery:
    """An outbox event, fanned out; the first delivery it made."""
    event = event_emit(name=name, payload={**PAYLOAD, **payload})
    services.event_fan_out(event)
    return WebhookDelivery.objects.filter(event=event).first()


def _received(receiver):
    return receiver.requests_for("POST", HOOK_PATH)


def test_delivery_verifies_with_the_standardwebhooks_verifier(
    receiver, make_endpoint
) -> None:
    _endpoint, secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(204))
    delivery = _emit()

    assert services.delivery_send(delivery_id=delivery.pk) == DeliveryStatus.DELIVERED

    (request,) = _received(receiver)
    message = Webhook(secret).verify(request.body, request.headers)
    assert message["type"] == "payment.captured"
    assert message["data"] == PAYLOAD
    assert message["timestamp"]
    assert request.header("webhook-id") == delivery.public_id
    tampered = request.body.replace(b"1050", b"9999")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)


def test_both_secrets_verify_during_a_rotation_and_only_the_new_after(
    receiver, make_endpoint
) -> None:
    endpoint, old = make_endpoint()
    new = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=1)
    receiver.route("POST", HOOK_PATH, respond(200))
    services.delivery_send(delivery_id=_emit().pk)

    (during,) = _received(receiver)
    assert len(during.header("webhook-signature").split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(during.body, during.headers)

    endpoint.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    endpoint.save()
    services.delivery_send(delivery_id=_emit(order_id="ord_2").pk)
    after = _received(receiver)[-1]
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_one_delivery_per_matching_endpoint(make_endpoint) -> None:
    exact, _ = make_endpoint(event_types=["payment.captured"])
    prefix, _ = make_endpoint(event_types=["payment.*"])
    _other, _ = make_endpoint(event_types=["payment.refunded"])
    event = event_emit(name="payment.captured", payload=PAYLOAD)
    services.event_fan_out(event)

    rows = WebhookDelivery.objects.filter(event=event)
    assert {r.endpoint_id for r in rows} == {exact.pk, prefix.pk}
    # The same body for every endpoint and attempt.
    assert len({r.body for r in rows}) == 1


def test_internal_events_are_never_sent(make_endpoint) -> None:
    make_endpoint(event_types=["*"])
    event = event_emit(name="integrations.breaker_opened", payload={})
    services.event_fan_out(event)
    assert not WebhookDelivery.objects.exists()


def test_failures_are_retried_on_schedule_with_the_same_webhook_id(
    receiver, make_endpoint
) -> None:
    _endpoint, secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500), respond(503), respond(200))
    delivery = _emit()
    now = timezone.now()

    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "failed"
    delivery.refresh_from_db()
    first_wait = (delivery.next_attempt_at - now).total_seconds()
    assert 4 <= first_wait <= 6  # 5 s +- 20 %
    assert delivery.last_status_code == 500
    # Not due yet: the sweep leaves it alone.
    assert services.deliveries_sweep(now=now + timedelta(seconds=3)) == 0

    later = delivery.next_attempt_at
    assert services.delivery_send(delivery_id=delivery.pk, now=later) == "failed"
    delivery.refresh_from_db()
    assert 240 <= (delivery.next_attempt_at - later).total_seconds() <= 360

    last = delivery.next_attempt_at
    assert services.delivery_send(delivery_id=delivery.pk, now=last) == "delivered"
    ids = {r.header("webhook-id") for r in _received(receiver)}
    assert ids == {delivery.public_id}
    assert len(_received(receiver)) == 3
    stamps = [int(r.header("webhook-timestamp")) for r in _received(receiver)]
    # Each attempt is signed for its own time, so a late retry still verifies.
    assert stamps == [int(t.timestamp()) for t in (now, later, last)]
    for request, stamp in zip(_received(receiver), stamps, strict=True):
        when = datetime.fromtimestamp(stamp, tz=UTC)
        expected = Webhook(secret).sign(delivery.public_id, when, request.body)
        assert request.header("webhook-signature") == expected


def test_schedule_spans_about_three_days() -> None:
    steps = [retry_delay_for(n, jitter=1.0) for n in range(1, 12)]
    assert [s.total_seconds() for s in steps[:6]] == [5, 300, 1800, 7200, 18000, 36000]
    total = sum(steps, timedelta())
    assert timedelta(days=2.5) <= total <= timedelta(days=3.5)


def test_a_delivery_gives_up_after_the_last_attempt(
    settings, receiver, make_endpoint
) -> None:
    settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS = 2
    make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500))
    delivery = _emit()
    now = timezone.now()
    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "failed"
    later = now + timedelta(minutes=1)
    assert services.delivery_send(delivery_id=delivery.pk, now=later) == "dead"


def test_timeout_and_refused_connection_are_failures(receiver, make_endpoint) -> None:
    receiver.route("POST", HOOK_PATH, hang())
    make_endpoint()
    delivery = _emit()
    assert services.delivery_send(delivery_id=delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "did not answer in time" in delivery.last_error

    with RefusingPort() as port:
        make_endpoint(url=f"{port.url}/hooks")
        refused = _emit(order_id="ord_refused")
        refused = WebhookDelivery.objects.filter(event=refused.event).last()
        assert services.delivery_send(delivery_id=refused.pk) == "failed"
    refused.refresh_from_db()
    assert "refused the connection" in refused.last_error


def test_a_trickling_endpoint_is_cut_off_at_the_delivery_deadline(
    receiver, make_endpoint, settings
) -> None:
    # The storefront picks the URL: an endpoint that answers at once, then
    # sends its body a byte every 0.2 s (8 s; never 0.5 s of silence), must
    # not hold the worker past connect + read timeouts (1 s here).
    settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = 0.5
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 0.5
    receiver.route("POST", HOOK_PATH, trickle(500, length=40, gap=0.2))
    make_endpoint()
    delivery = _emit()
    started = time.monotonic()
    assert services.delivery_send(delivery_id=delivery.pk) == "failed"
    elapsed = time.monotonic() - started
    # Connect + read (1 s), with room for a loaded machine; not the 8 s.
    assert elapsed < 1.0 * 3, f"one delivery attempt took {elapsed:.1f} s"
    delivery.refresh_from_db()
    # The status line counts; the excerpt keeps what came before the cut.
    assert delivery.last_status_code == 500
    assert 0 < len(delivery.last_response) < 10
    assert set(delivery.last_response) == {"x"}
    assert delivery.last_duration_ms < 1000 * 3


def test_410_disables_the_endpoint_and_enabling_sends_what_waited(
    receiver, make_endpoint
) -> None:
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(410), respond(200))
    first = _emit()
    assert services.delivery_send(delivery_id=first.pk) == "failed"
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "410" in endpoint.disabled_reason

    # While disabled: rows are made but neither sent nor swept.
    second = _emit(order_id="ord_2")
    assert services.delivery_send(delivery_id=second.pk) is None
    assert services.deliveries_sweep(now=timezone.now() + timedelta(days=1)) == 0
    assert len(_received(receiver)) == 1

    assert services.endpoint_enable(endpoint=endpoint) == 2
    for delivery in (first, second):
        assert services.delivery_send(delivery_id=delivery.pk) == "delivered"
    assert len(_received(receiver)) == 3


def test_an_endpoint_failing_for_days_is_disabled_with_a_reason(
    receiver, make_endpoint
) -> None:
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500))
    delivery = _emit()
    start = timezone.now()
    services.delivery_send(delivery_id=delivery.pk, now=start)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since == start

    services.delivery_send(delivery_id=delivery.pk, now=start + timedelta(hours=61))
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "failed for 60 hours" in endpoint.disabled_reason


def test_a_success_clears_the_failing_streak(receiver, make_endpoint) -> None:
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500), respond(200))
    delivery = _emit()
    now = timezone.now()
    services.delivery_send(delivery_id=delivery.pk, now=now)
    services.delivery_send(delivery_id=delivery.pk, now=now + timedelta(minutes=1))
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_delivery_whose_worker_died_is_sent_again_with_the_same_id(
    receiver, make_endpoint
) -> None:
    make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    delivery = _emit()
    # Two minutes ago (the sweeps below run then too), so the row the sweep
    # takes back is due for its retry when its task runs, now.
    now = timezone.now() - timedelta(seconds=130)
    # A worker claims the row and dies before settling it.
    from storefront_hooks.services.rows import rows

    assert rows.claim(delivery.pk, now)
    assert services.delivery_send(delivery_id=delivery.pk, now=now) is None
    # Within the lease nothing happens; after it the sweeper takes it back.
    assert services.deliveries_sweep(now=now + timedelta(seconds=60)) == 0
    assert services.deliveries_sweep(now=now + timedelta(seconds=121)) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED  # Q_SYNC ran the task
    (request,) = _received(receiver)
    assert request.header("webhook-id") == delivery.public_id


def test_each_attempt_is_in_the_call_log_of_the_endpoints_account(
    receiver, make_endpoint
) -> None:
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500))
    delivery = _emit()
    services.delivery_send(delivery_id=delivery.pk)
    call = ProviderCall.objects.get(account=endpoint.account)
    assert call.idempotency_key == delivery.public_id
    assert call.http_status == 500
    assert call.attempts == 1  # the client does not retry; the schedule does
    # The hidden account is out of failover, fan-out and health probes.
    assert not endpoint.account.enabled


def test_the_breaker_is_per_endpoint(settings, receiver, make_endpoint) -> None:
    settings.BREAKER_CONSECUTIVE_FAILURES = 2
    failing, _ = make_endpoint(url=receiver.url_for("/down"))
    _healthy, _ = make_endpoint()
    receiver.route("POST", "/down", respond(500))
    receiver.route("POST", HOOK_PATH, respond(200))
    for n in range(3):
        event = event_emit(name="payment.captured", payload={"n": n})
        services.event_fan_out(event)
        for row in WebhookDelivery.objects.filter(event=event):
            services.delivery_send(delivery_id=row.pk)
    down = WebhookDelivery.objects.filter(endpoint=failing).order_by("pk")
    assert "breaker" in down.last().last_error
    assert len(receiver.requests_for("POST", "/down")) == 2
    assert len(_received(receiver)) == 3


def test_body_is_the_documented_envelope(receiver, make_endpoint) -> None:
    make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    delivery = _emit()
    services.delivery_send(delivery_id=delivery.pk)
    (request,) = _received(receiver)
    assert set(json.loads(request.body)) == {"type", "timestamp", "data"}
    assert request.header("content-type") == "application/json"
