"""inv38, out of order and twice (guards: each held when checked). A stock
webhook or sync page carrying an older level than the one applied does not
move stock back, by the ERP's own ordering (the stock service's
``modified_at``, else the event's ``timestamp``; TradeGecko's variant
``updated_at``); a delivery sent twice is stored and applied once; one
Idempotency-Key from concurrent requests reserves once."""

import io
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
import responses
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import WebhookEvent
from integrations.webhooks.services import webhook_event_process
from integrations.webhooks.verification import signed_headers
from inventory import services
from inventory.models import Reservation, StockLevel
from tests.contract.sandbox import SECRET
from tests.factories import ApiKeyFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, StockLevelFactory

NEW, OLD = "2026-12-04T09:31:00Z", "2026-12-04T09:01:00Z"


def _stock_event(on_hand: int, *, modified_at=None, timestamp=None) -> dict:
    level = {"sku": "A", "location": "MAIN", "on_hand": on_hand}
    if modified_at:
        level["modified_at"] = modified_at
    event = {"type": "inventory.updated", "data": {"levels": [level]}}
    if timestamp:
        event["timestamp"] = timestamp
    return event


def _deliver(slug: str, event: dict, webhook_id: str | None = None) -> None:
    body = json.dumps(event).encode()
    headers = signed_headers(
        secret=SECRET,
        webhook_id=webhook_id or f"msg_{uuid.uuid4().hex}",
        body=body,
        timestamp=int(time.time()),
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = Client().post(
        f"/webhooks/{slug}/", data=body, content_type="application/json", **wsgi
    )
    assert response.status_code == 200, response.content
    for row in WebhookEvent.objects.filter(status="received"):
        webhook_event_process(event_id=row.pk)


def _on_hand() -> int:
    return StockLevel.objects.get(sku="A").on_hand


@pytest.fixture
def stock_service(db):
    LocationFactory(code="MAIN")
    return hs.make_account()


@pytest.mark.django_db
@pytest.mark.parametrize("when", ["modified_at", "timestamp"])
def test_an_older_stock_service_event_after_a_newer_one_changes_nothing(
    stock_service, when
):
    _deliver(stock_service.slug, _stock_event(40, **{when: NEW}))
    _deliver(stock_service.slug, _stock_event(99, **{when: OLD}))

    assert _on_hand() == 40
    assert WebhookEvent.objects.filter(status="processed").count() == 2


@pytest.mark.django_db
def test_a_stock_service_event_delivered_twice_is_stored_and_applied_once(
    stock_service,
):
    StockLevelFactory(sku="A", location=LocationFactory(code="MAIN"), on_hand=10)
    services.reservation_create(order_id="o", lines=[services.LineRequest("A", 3)])
    event = _stock_event(40, modified_at=NEW)
    _deliver(stock_service.slug, event, webhook_id="msg_once")
    services.reservation_confirm(reservation=Reservation.objects.get())
    _deliver(stock_service.slug, event, webhook_id="msg_once")

    assert WebhookEvent.objects.count() == 1
    # The 3 units sold here after the ERP's 40 are not handed back.
    assert _on_hand() == 37


@pytest.mark.django_db
def test_an_older_sync_page_after_a_newer_webhook_changes_nothing(stock_service):
    _deliver(stock_service.slug, _stock_event(40, modified_at=NEW))
    row = {"sku": "A", "location": "MAIN", "on_hand": 99, "modified_at": OLD}
    with responses.RequestsMock() as rsps:
        rsps.get(hs.LEVELS, json={"levels": [row]})
        call_command(
            "sync_inventory", "--account", stock_service.slug, stdout=io.StringIO()
        )

    assert _on_hand() == 40


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("updated_at", "expected"), [("2026-12-04T09:01:00.000Z", 5), (None, 0)]
)
def test_a_tradegecko_read_back_older_than_the_synced_level_changes_nothing(
    updated_at, expected
):
    account = tg.make_account()
    variant = tg.load("variant.json")["body"]["variant"]
    location = str(variant["locations"][0]["location_id"])
    level = StockLevelFactory(
        sku=variant["sku"], location=LocationFactory(code=location), on_hand=5
    )
    # None: a minute ago, newer than the stored level (the control case).
    fresh = timezone.now() - timedelta(minutes=1)
    stale = dict(variant, updated_at=updated_at or fresh.isoformat())
    StockLevel.objects.filter(pk=level.pk).update(
        erp_modified_at="2026-12-04T09:31:00Z"
    )
    body = json.dumps(
        {"object_id": variant["id"], "event": "variant.update", "timestamp": 1}
    ).encode()
    with responses.RequestsMock() as rsps:
        rsps.get(f"{tg.BASE}/variants/{variant['id']}", json={"variant": stale})
        response = Client().post(
            f"/webhooks/{account.slug}/",
            data=body,
            content_type="application/json",
            HTTP_X_GECKO_DELIVERY=uuid.uuid4().hex,
            HTTP_X_GECKO_SIGNATURE=tg.signed(body),
        )
        assert response.status_code == 200
        webhook_event_process(event_id=WebhookEvent.objects.get().pk)

    level.refresh_from_db()
    assert level.on_hand == expected
    assert WebhookEvent.objects.get().status == "processed"


def _reserve(raw_key: str, key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    try:
        return client.post(
            "/api/v1/inventory/reservations/",
            {"order_id": "o-1", "lines": [{"sku": "A", "quantity": 2}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_one_idempotency_key_from_concurrent_requests_reserves_once(
    monkeypatch, round_
):
    StockLevelFactory(sku="A", on_hand=10)
    raw_key = ApiKeyFactory(scopes=["inventory:write"]).raw_key
    create = services.reservation_create

    def slow(**kwargs):
        time.sleep(0.2)  # every request is in flight at once
        return create(**kwargs)

    monkeypatch.setattr(services, "reservation_create", slow)
    gate, results = threading.Barrier(4), []

    def racer() -> None:
        gate.wait(10)
        results.append(_reserve(raw_key, f"same-{round_}"))

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    statuses = sorted(r.status_code for r in results)
    assert len(statuses) == 4 and set(statuses) <= {201, 409}, statuses
    assert Reservation.objects.count() == 1
    assert StockLevel.objects.get(sku="A").reserved == 2
    replay = _reserve(raw_key, f"same-{round_}")
    assert replay.status_code == 201
    assert replay.json()["id"] == Reservation.objects.get().public_id
