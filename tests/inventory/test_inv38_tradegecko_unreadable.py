"""inv38: a validly signed TradeGecko ``variant.*`` webhook naming no
variant it could be (no ``object_id``, text, null, a boolean, zero, a
negative or a 64-bit-overflowing number) was stored ``processed`` with an
empty note: the stock change it stood for was lost without a word to staff.
It is now stored dead with a clear error, asking TradeGecko nothing; a
non-variant event is still ignored as before."""

import json
import time
import uuid

import pytest
import responses
from django.test import Client

from integrations.models import WebhookEvent
from integrations.webhooks.services import webhook_event_process
from tests.inventory.contract import harness_tradegecko as tg

pytestmark = pytest.mark.django_db

MISSING = object()


@pytest.fixture(autouse=True)
def account():
    account = tg.make_account()
    account.slug = "gecko"
    account.save()
    return account


def _deliver(event: str, object_id) -> WebhookEvent:
    payload = {"event": event, "timestamp": int(time.time())}
    if object_id is not MISSING:
        payload["object_id"] = object_id
    body = json.dumps(payload).encode()
    # Nothing may be asked of TradeGecko: there is no variant to read back.
    with responses.RequestsMock():
        response = Client().post(
            "/webhooks/gecko/",
            data=body,
            content_type="application/json",
            HTTP_X_GECKO_DELIVERY=uuid.uuid4().hex,
            HTTP_X_GECKO_SIGNATURE=tg.signed(body),
        )
        assert response.status_code == 200, response.content
        row = WebhookEvent.objects.get()
        webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    return row


@pytest.mark.parametrize(
    "object_id", [MISSING, None, "123", "x\u0000", True, 0, -1, 2**63, 10**30, 1.5]
)
def test_a_variant_event_naming_no_variant_is_stored_dead_with_why(object_id):
    row = _deliver("variant.update", object_id)

    assert row.status == "dead"
    assert "object_id" in row.last_error
    assert "unreadable" in row.last_error


def test_an_event_of_another_kind_is_still_ignored():
    row = _deliver("order.create", MISSING)

    assert (row.status, row.last_error) == ("processed", "")
