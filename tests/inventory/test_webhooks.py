"""Signed ``inventory.updated`` webhooks through /webhooks/<slug>/: applied by
the sync's rules, older events ignored, reservations kept, forged refused."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import WebhookEvent
from integrations.providers import sandbox_webhooks
from integrations.webhooks.services import webhook_event_process
from inventory import services
from inventory.models import StockLevel
from inventory.providers.base import StockLevelRecord
from inventory.providers.sandbox import UPDATED_EVENT, event_data
from inventory.services import LineRequest
from tests.contract.sandbox import OTHER_SECRET, SECRET
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def erp():
    return ProviderAccountFactory(kind="inventory", slug="erp-hooks")


def _post(levels, *, secret=SECRET):
    body = sandbox_webhooks.webhook_body(UPDATED_EVENT, event_data(levels))
    headers = sandbox_webhooks.webhook_headers(
        secret=secret, webhook_id=f"msg_{uuid.uuid4().hex}", body=body
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return Client().post(
        "/webhooks/erp-hooks/", data=body, content_type="application/json", **wsgi
    )


def _deliver(levels) -> str | None:
    response = _post(levels)
    assert response.status_code < 300, response.content
    event = WebhookEvent.objects.order_by("-pk").first()
    return webhook_event_process(event_id=event.pk)


def test_update_applies_and_keeps_reservations(erp):
    StockLevelFactory(sku="A", on_hand=10)
    services.reservation_create(order_id="o", lines=[LineRequest("A", 4)])
    assert _deliver([StockLevelRecord("A", "MAIN", 6, timezone.now())]) is not None
    level = StockLevel.objects.get(sku="A")
    assert (level.on_hand, level.reserved, level.source_id) == (6, 4, erp.pk)


def test_older_event_is_ignored(erp):
    now = timezone.now()
    _deliver([StockLevelRecord("A", "MAIN", 6, now)])
    _deliver([StockLevelRecord("A", "MAIN", 99, now - timedelta(minutes=1))])
    assert StockLevel.objects.get(sku="A").on_hand == 6
    assert WebhookEvent.objects.filter(status="processed").count() == 2


def test_forged_webhook_changes_nothing(erp):
    StockLevelFactory(sku="A", on_hand=10)
    response = _post(
        [StockLevelRecord("A", "MAIN", 1, timezone.now())], secret=OTHER_SECRET
    )
    assert 400 <= response.status_code < 500
    assert StockLevel.objects.get(sku="A").on_hand == 10
    assert not WebhookEvent.objects.exists()


def test_a_level_our_columns_cannot_hold_is_noted_and_the_others_applied(erp):
    """One level with on_hand 2^31 (beyond the column) no longer fails the
    event for retry until dead: the valid level is applied, the bad one is
    named in the event's note, and the event is processed (not retried)."""
    StockLevelFactory(sku="GOOD", on_hand=10)
    now = timezone.now()
    status = _deliver(
        [
            StockLevelRecord("GOOD", "MAIN", 2, now),
            StockLevelRecord("HUGE", "MAIN", 2**31, now),
        ]
    )
    event = WebhookEvent.objects.get()
    assert (status, event.status, event.attempts) == ("processed", "processed", 1)
    assert StockLevel.objects.get(sku="GOOD").on_hand == 2
    assert not StockLevel.objects.filter(sku="HUGE").exists()
    assert "1 level refused" in event.note
    assert "HUGE@MAIN" in event.note and "on_hand" in event.note
