"""inv38 (guard, held when checked): validly signed stock service webhooks
with hostile bodies. One that is no event at all (a JSON array, a scalar,
empty, not JSON, no ``type``) is stored dead with its error and answered 200,
never a 500 (intake41: it was a 4xx storing nothing). An
``inventory.updated`` without its levels is stored dead with the reason; a
level missing fields or holding a value our columns cannot (2^31, 2^63, a
string, null, NUL, a SKU past its column) is refused alone and named in the
processed event's note."""

import json
import time

import pytest
from django.test import Client

from integrations.models import WebhookEvent
from integrations.webhooks.services import webhook_event_process
from integrations.webhooks.verification import signed_headers
from inventory.models import StockLevel
from tests.contract.sandbox import SECRET
from tests.inventory.contract import harness_http_stock as hs

pytestmark = pytest.mark.django_db

NOW = "2026-12-01T00:00:00Z"


@pytest.fixture(autouse=True)
def account():
    return hs.make_account()


def _post(account, body: bytes):
    headers = signed_headers(
        secret=SECRET, webhook_id="msg_inv38", body=body, timestamp=int(time.time())
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return Client().post(
        f"/webhooks/{account.slug}/",
        data=body,
        content_type="application/json",
        **wsgi,
    )


def _stored(account, event: dict) -> WebhookEvent:
    response = _post(account, json.dumps(event).encode())
    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get()
    webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    return row


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'[{"type": "inventory.updated"}]',
        b"42",
        b'"x"',
        b"null",
        b"",
        b"not json",
        b"{}",
    ],
)
def test_a_body_that_is_no_event_is_stored_dead_with_why(account, body):
    # intake41: it was a 4xx storing nothing; the sender's signature passed,
    # so the body is kept, dead with its error, and answered 200.
    response = _post(account, body)

    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get()
    assert (row.status, bytes(row.raw_body)) == ("dead", body)
    assert "malformed_request" in row.last_error


@pytest.mark.parametrize("data", [None, {}, {"levels": {}}, {"levels": "x"}])
def test_an_update_without_its_levels_is_stored_dead_with_why(account, data):
    event = {"type": "inventory.updated", "timestamp": NOW}
    if data is not None:
        event["data"] = data

    row = _stored(account, event)

    assert row.status == "dead"
    assert "carries no levels" in row.last_error


@pytest.mark.parametrize(
    ("level", "why"),
    [
        ({}, "no sku or location"),
        ({"sku": "A"}, "no sku or location"),
        ({"sku": "A", "location": "main"}, "on_hand"),
        ({"sku": "A", "location": "main", "on_hand": 2**31}, "on_hand"),
        ({"sku": "A", "location": "main", "on_hand": 2**63}, "on_hand"),
        ({"sku": "A", "location": "main", "on_hand": "7"}, "on_hand"),
        ({"sku": "A", "location": "main", "on_hand": None}, "on_hand"),
        ({"sku": "A\u0000", "location": "main", "on_hand": 1}, "sku"),
        ({"sku": "A" * 300, "location": "main", "on_hand": 1}, "sku"),
    ],
)
def test_a_level_we_cannot_hold_is_refused_alone_and_named(account, level, why):
    good = {"sku": "B", "location": "main", "on_hand": 4, "modified_at": NOW}
    event = {"type": "inventory.updated", "data": {"levels": [level, good]}}

    row = _stored(account, event)

    assert row.status == "processed"
    assert row.note.startswith("1 level refused") and why in row.note, row.note
    assert StockLevel.objects.get(sku="B").on_hand == 4
