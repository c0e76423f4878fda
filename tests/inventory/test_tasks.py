"""The scheduled tasks, and the sandbox ERP announcing its own stock changes
as signed inventory.updated webhooks that our intake applies."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import WebhookEvent
from integrations.providers import sandbox_webhooks
from integrations.webhooks.services import webhook_event_process
from inventory import services, tasks
from inventory.models import Reservation, SandboxErpLevel, StockLevel
from inventory.providers.sandbox import sandbox_erp_set_levels
from inventory.services import LineRequest
from tests.contract.sandbox import SECRET
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db


def test_expire_task_releases_past_reservations():
    StockLevelFactory(sku="A", on_hand=3)
    past = timezone.now() - timedelta(hours=1)
    services.reservation_create(
        order_id="o", lines=[LineRequest("A", 3)], ttl_seconds=60, now=past
    )
    assert tasks.expire_reservations() == 1
    assert Reservation.objects.get().status == "expired"
    assert StockLevel.objects.get(sku="A").reserved == 0


def test_scheduled_sync_skips_an_account_already_syncing():
    idle = ProviderAccountFactory(kind="inventory", slug="erp-idle", priority=1)
    busy = ProviderAccountFactory(kind="inventory", slug="erp-busy", priority=2)
    SandboxErpLevel.objects.create(account=idle, sku="A", location_code="MAIN")
    services.sync_run_start(account=busy)
    assert tasks.sync_all_accounts() == 1
    assert StockLevel.objects.filter(source=idle).count() == 1


def test_sandbox_erp_announces_its_changes(
    settings, django_capture_on_commit_callbacks
):
    settings.SANDBOX_WEBHOOK_BASE_URL = "http://127.0.0.1:9"
    account = ProviderAccountFactory(kind="inventory", slug="erp-hooks")
    StockLevelFactory(sku="A", on_hand=10)
    with django_capture_on_commit_callbacks() as callbacks:
        (record,) = sandbox_erp_set_levels(account=account, levels=[("A", "MAIN", 4)])
    assert SandboxErpLevel.objects.get(account=account, sku="A").on_hand == 4
    (delivery,) = callbacks
    body = json.loads(delivery.keywords["body"])
    assert body["type"] == "inventory.updated"
    assert body["data"]["levels"][0]["on_hand"] == 4
    # What the delivery posts, verified and applied by the intake.
    raw = delivery.keywords["body"].encode()
    headers = sandbox_webhooks.webhook_headers(
        secret=SECRET, webhook_id=delivery.keywords["webhook_id"], body=raw
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = Client().post(
        "/webhooks/erp-hooks/", data=raw, content_type="application/json", **wsgi
    )
    assert response.status_code < 300, response.content
    webhook_event_process(event_id=WebhookEvent.objects.get().pk)
    level = StockLevel.objects.get(sku="A")
    assert (level.on_hand, level.erp_modified_at) == (4, record.modified_at)
