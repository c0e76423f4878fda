"""ERP webhooks whose stored payload can never be read go dead at once with
their error (UnprocessableEvent), instead of being retried until dead; a
failure that may pass later (the ERP's read-back answer, our own code or the
database after the payload was read) still retries."""

import json
import uuid

import pytest
import responses
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process
from integrations.webhooks.verification import signed_headers
from inventory import services
from tests.contract.sandbox import SECRET
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.contract import harness_tradegecko as tg

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}


def _deliver(slug: str, payload: dict) -> WebhookEvent:
    body = json.dumps(payload).encode()
    headers = signed_headers(
        secret=SECRET, webhook_id=f"msg_{uuid.uuid4().hex}", body=body
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = Client().post(
        f"/webhooks/{slug}/", data=body, content_type="application/json", **wsgi
    )
    assert response.status_code < 300, response.content
    event = WebhookEvent.objects.order_by("-pk").first()
    webhook_event_process(event_id=event.pk)
    event.refresh_from_db()
    return event


def _updated(data) -> dict:
    return {
        "type": "inventory.updated",
        "timestamp": timezone.now().isoformat(),
        "data": data,
    }


def _assert_dead_at_once(event: WebhookEvent) -> None:
    assert (event.status, event.attempts, event.next_attempt_at) == (
        WebhookStatus.DEAD,
        1,
        None,
    )
    assert event.last_error.startswith("Not retried")
    assert "inventory event unreadable" in event.last_error


@pytest.fixture
def sandbox_erp():
    return ProviderAccountFactory(kind="inventory", slug="erp-revmail")


@pytest.fixture
def stock_service():
    account = hs.make_account()
    account.slug = "stock-revmail"
    account.save()
    return account


@pytest.mark.parametrize(
    "data",
    [
        ["not", "an", "object"],  # data must be an object
        {"levels": [["SKU", "MAIN", 3]]},  # a level must be an object
    ],
)
def test_sandbox_event_with_unreadable_data_is_dead_at_once(sandbox_erp, data):
    _assert_dead_at_once(_deliver("erp-revmail", _updated(data)))


@pytest.mark.parametrize("data", [{"levels": "none"}, ["levels"], None])
def test_stock_service_malformed_event_is_dead_at_once(stock_service, data):
    event = _deliver("stock-revmail", _updated(data))
    _assert_dead_at_once(event)
    assert "carries no levels" in event.last_error


def test_database_error_after_reading_still_retries(stock_service, monkeypatch):
    def unavailable(**kwargs):
        raise OperationalError("could not serialize access")

    monkeypatch.setattr(services, "stock_levels_apply", unavailable)
    levels = [{"sku": "A", "location": "MAIN", "on_hand": 3}]
    event = _deliver("stock-revmail", _updated({"levels": levels}))
    assert (event.status, event.attempts) == (WebhookStatus.FAILED, 1)
    assert event.next_attempt_at is not None
    assert "OperationalError" in event.last_error


def test_our_own_type_error_after_reading_still_retries(stock_service, monkeypatch):
    # A bug of ours past the payload's reading is fixed and then retried,
    # not taken for a malformed event.
    def buggy(**kwargs):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(services, "stock_levels_apply", buggy)
    levels = [{"sku": "A", "location": "MAIN", "on_hand": 3}]
    event = _deliver("stock-revmail", _updated({"levels": levels}))
    assert event.status == WebhookStatus.FAILED
    assert not event.last_error.startswith("Not retried")


# --- TradeGecko reads the variant back: its answer is not the stored row -------


@pytest.fixture
def gecko():
    account = tg.make_account()
    account.slug = "gecko-revmail"
    account.save()
    return account


def _gecko_deliver(object_id: int = 123) -> WebhookEvent:
    body = json.dumps(
        {
            "object_id": object_id,
            "event": "variant.update",
            "timestamp": int(timezone.now().timestamp()),
            "resource_url": f"{tg.BASE}/variants/{object_id}.json",
        }
    ).encode()
    response = Client().post(
        "/webhooks/gecko-revmail/",
        data=body,
        content_type="application/json",
        HTTP_X_GECKO_DELIVERY=uuid.uuid4().hex,
        HTTP_X_GECKO_SIGNATURE=tg.signed(body),
    )
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    webhook_event_process(event_id=event.pk)
    event.refresh_from_db()
    return event


@pytest.mark.parametrize(
    "answer",
    [
        {"body": "<html>gateway</html>", "content_type": "text/html"},
        {"json": {"error": "no variant here"}},
    ],
)
def test_tradegecko_read_back_answered_unreadably_is_retried(gecko, answer):
    # A proxy's page or a half answer today may be the variant tomorrow.
    with responses.RequestsMock() as rsps:
        rsps.add("GET", f"{tg.BASE}/variants/123", status=200, **answer)
        event = _gecko_deliver()
    assert (event.status, event.attempts) == (WebhookStatus.FAILED, 1)
    assert event.next_attempt_at is not None
    assert not event.last_error.startswith("Not retried")
