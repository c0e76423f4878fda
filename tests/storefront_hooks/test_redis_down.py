"""With Redis down the breaker's published mode cannot be read: the sweep
and the endpoints' admin go by the account row's mode
instead of stopping (the outage record warns once; each read logs INFO)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.breaker import breaker_mode_set
from integrations.breaker.store import forget_recent
from integrations.events import event_emit
from integrations.models import DeliveryStatus, Event
from integrations.models.accounts import BreakerMode
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import sweep
from storefront_hooks.services.rows import rows

pytestmark = pytest.mark.django_db

LIST = "admin:storefront_hooks_webhookendpoint_changelist"


def _emit(order_id: str) -> Event:
    event = event_emit(name="payment.captured", payload={"order_id": order_id})
    services.event_fan_out(event)
    return event


def _redis_down(settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    forget_recent()  # this process's last reads of the breakers


@pytest.fixture
def no_enqueue(monkeypatch) -> list[int]:
    queued: list[int] = []
    monkeypatch.setattr(sweep, "enqueue", queued.append)
    return queued


def test_the_sweep_goes_on_by_the_account_rows_mode_while_redis_is_down(
    settings, make_endpoint, no_enqueue, caplog
) -> None:
    settings.STOREFRONT_WEBHOOK_MAX_AGE_HOURS = 96
    live, _ = make_endpoint()
    paused, _ = make_endpoint()
    breaker_mode_set(account=paused.account, mode=BreakerMode.FORCED_OPEN)
    now = timezone.now()
    lost, old, due = _emit("ord_1"), _emit("ord_2"), _emit("ord_3")
    WebhookDelivery.objects.filter(event=old).update(
        created_at=now - timedelta(hours=97)
    )
    WebhookDelivery.objects.filter(event=due).update(next_attempt_at=now)
    lost = WebhookDelivery.objects.get(event=lost, endpoint=live)
    assert rows.claim(lost.pk, now - timedelta(seconds=121))
    _redis_down(settings)

    with caplog.at_level("INFO"):  # the outage record warns; the read, INFO
        services.deliveries_sweep(now=now)

    lost.refresh_from_db()
    assert lost.status == DeliveryStatus.FAILED and "worker lost" in lost.last_error
    for endpoint in (live, paused):  # the age limit, paused rows too
        row = WebhookDelivery.objects.get(event=old, endpoint=endpoint)
        assert row.status == DeliveryStatus.DEAD
    # The paused endpoint's due row waits; the live one's is sent.
    assert WebhookDelivery.objects.get(event=due, endpoint=live).pk in no_enqueue
    held = WebhookDelivery.objects.get(event=due, endpoint=paused)
    assert held.pk not in no_enqueue
    paused.refresh_from_db()
    assert paused.paused_since == now
    assert "webhook endpoint breaker unreadable" in caplog.messages


def test_the_endpoint_list_shows_the_account_rows_pause_while_redis_is_down(
    settings, admin_client, make_endpoint
) -> None:
    endpoint, _ = make_endpoint()
    make_endpoint()
    breaker_mode_set(
        account=endpoint.account, mode=BreakerMode.FORCED_OPEN, actor="ops"
    )
    _redis_down(settings)
    response = admin_client.get(reverse(LIST))
    assert response.status_code == 200
    assert "Paused: circuit breaker forced open (since unknown)" in (
        response.content.decode()
    )
