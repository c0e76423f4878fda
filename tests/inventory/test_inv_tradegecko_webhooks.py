"""TradeGecko's signed ``variant.*`` webhooks through /webhooks/<slug>/, as
its documentation shows them (``{"object_id", "event", "timestamp",
"resource_url"}``, X-Gecko-Signature, X-Gecko-Delivery): the variant is read
back and its levels applied like any ``inventory.updated``, not stored as
processed with "no handler" and the stock change lost."""

import json
import time
import uuid

import pytest
import responses
from django.test import Client

from integrations.models import WebhookEvent
from integrations.webhooks.services import webhook_event_process
from inventory.models import StockLevel
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db

VARIANT = tg.load("variant.json")["body"]["variant"]


@pytest.fixture
def account():
    account = tg.make_account()
    account.slug = "gecko"
    account.save()
    return account


def _deliver(event: str, object_id: int = VARIANT["id"]) -> WebhookEvent:
    body = json.dumps(
        {
            "object_id": object_id,
            "event": event,
            "timestamp": int(time.time()),
            "resource_url": f"{tg.BASE}/variants/{object_id}.json",
        }
    ).encode()
    response = Client().post(
        "/webhooks/gecko/",
        data=body,
        content_type="application/json",
        HTTP_X_GECKO_DELIVERY=uuid.uuid4().hex,
        HTTP_X_GECKO_SIGNATURE=tg.signed(body),
    )
    assert response.status_code == 200, response.content
    event_row = WebhookEvent.objects.get()
    webhook_event_process(event_id=event_row.pk)
    event_row.refresh_from_db()
    return event_row


@pytest.mark.parametrize("event", ["variant.update", "variant.stock_level_update"])
def test_a_variant_event_applies_the_variants_levels(account, event):
    level = StockLevelFactory(
        sku=VARIANT["sku"], location=LocationFactory(code="159"), on_hand=7
    )
    with responses.RequestsMock() as rsps:
        tg.answer(rsps, "GET", f"{tg.BASE}/variants/{VARIANT['id']}", "variant.json")
        row = _deliver(event)
    assert (row.status, row.note) == ("processed", "")
    level.refresh_from_db()
    assert (level.on_hand, level.source_id) == (202, account.pk)
    assert StockLevel.objects.filter(sku=VARIANT["sku"]).count() == len(
        VARIANT["locations"]
    )


def test_a_variant_gone_from_tradegecko_changes_nothing(account):
    StockLevelFactory(sku=VARIANT["sku"], location=LocationFactory(code="159"))
    with responses.RequestsMock() as rsps:
        rsps.add("GET", f"{tg.BASE}/variants/{VARIANT['id']}", status=404)
        row = _deliver("variant.destroy")
    assert row.status == "processed"
    assert StockLevel.objects.get().on_hand == 10


def test_an_event_of_another_resource_asks_nothing(account):
    with responses.RequestsMock():  # no call may leave
        row = _deliver("order.create", object_id=42)
    assert row.status == "processed"
    assert not StockLevel.objects.exists()
