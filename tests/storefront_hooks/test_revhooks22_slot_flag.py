"""Review of ``waits_for_slot``: a row the in-flight cap held back that ends
without being sent (staff discard the disabled endpoint's waiting rows, the
age limit gives it up) no longer waits for a slot, so its delivery page
does not say it does; the hand-on reads the flagged rows by their partial
index."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations.clock import database_now
from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import handoff
from tests.storefront_hooks.cap_setup import enqueued, made_row_id, slots_taken
from tests.storefront_hooks.conftest import HOOK_PATH

# Rows are queued when their transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)

CAP = 2
INDEX = "webhookdelivery_slot_waiting"


@pytest.fixture
def broker(monkeypatch) -> list[int]:
    return enqueued(monkeypatch)


@pytest.fixture
def capped(settings, make_endpoint, receiver):
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    receiver.route("POST", HOOK_PATH, respond(200))
    return make_endpoint()[0]


def _held(endpoint) -> int:
    held = made_row_id(endpoint)
    with slots_taken(endpoint, CAP):
        assert services.delivery_send(delivery_id=held) == "pending"
    assert WebhookDelivery.objects.get(pk=held).waits_for_slot is True
    return held


def test_a_held_row_discarded_by_staff_no_longer_waits_for_a_slot(
    capped, broker, admin_client
):
    held = _held(capped)
    services.endpoint_disable(endpoint=capped, reason="Disabled by staff.")

    assert services.endpoint_waiting_discard(endpoint=capped, actor="ops") == 1

    row = WebhookDelivery.objects.get(pk=held)
    assert row.status == DeliveryStatus.DEAD
    assert row.waits_for_slot is False  # before: dead, yet "waits for slot"
    url = reverse("admin:storefront_hooks_webhookdelivery_change", args=[held])
    page = admin_client.get(url).content.decode()
    shown = page.split('field-waits_for_slot">', 1)[1][:400]
    assert 'alt="False"' in shown, shown


def test_a_held_row_given_up_by_the_age_limit_no_longer_waits_for_a_slot(
    capped, broker
):
    held = _held(capped)
    hours = django_settings.STOREFRONT_WEBHOOK_MAX_AGE_HOURS

    services.deliveries_sweep(now=database_now() + timedelta(hours=hours, minutes=1))

    row = WebhookDelivery.objects.get(pk=held)
    assert row.status == DeliveryStatus.DEAD
    assert row.last_error.startswith(f"Not delivered within {hours} hours")
    assert row.waits_for_slot is False  # before: dead, yet "waits for slot"


def test_the_hand_on_reads_the_rows_waiting_for_a_slot_by_their_index(capped):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plan")
    # A retry backlog of the endpoint, a few of its rows waiting for a slot.
    for number in range(200):
        made_row_id(
            capped, status=DeliveryStatus.FAILED, waits_for_slot=number % 50 == 0
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE storefront_hooks_webhookdelivery")
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        assert handoff.hand_on(capped.pk) is not None
        transaction.set_rollback(True)
    read = next(q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {read}")
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert INDEX in plan, plan
