"""A row the in-flight cap held back waits for a free slot by a field of its
own (``waits_for_slot``), not by how its last error's text begins: a row
whose real error happens to begin like the old marker is never handed a
slot, a held row whose last error is rewritten still is, and staff read the
cap's refusal as the last error, no marker before it."""

from datetime import timedelta

import pytest

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
# How the old code marked a row waiting for a slot (its last error's start).
OLD_MARKER = "Waiting for a free slot: "


@pytest.fixture
def broker(monkeypatch) -> list[int]:
    return enqueued(monkeypatch)


@pytest.fixture
def capped(settings, make_endpoint, receiver):
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = CAP
    receiver.route("POST", HOOK_PATH, respond(200))
    return make_endpoint()[0]


def test_a_held_row_is_marked_by_its_field_not_its_last_error(capped, broker):
    held = made_row_id(capped)
    with slots_taken(capped, CAP):
        assert services.delivery_send(delivery_id=held) == "pending"

    row = WebhookDelivery.objects.get(pk=held)
    assert row.waits_for_slot is True
    # Staff read the cap's refusal itself.
    assert not row.last_error.startswith(OLD_MARKER), row.last_error
    assert "in flight" in row.last_error

    assert services.delivery_send(delivery_id=made_row_id(capped)) == "delivered"

    assert broker == [held]  # handed the freed slot
    row.refresh_from_db()
    assert row.waits_for_slot is False  # handed on once, not twice
    assert row.next_attempt_at <= database_now()
    assert "in flight" in row.last_error and not row.last_error.startswith(OLD_MARKER)


def test_a_real_error_that_begins_like_the_marker_is_not_handed_a_slot(capped, broker):
    step = database_now() + timedelta(minutes=5)
    # A retry waiting its step whose real error reads like the old marker.
    failed = made_row_id(
        capped,
        status=DeliveryStatus.FAILED,
        attempts=1,
        next_attempt_at=step,
        last_error=f"{OLD_MARKER}the receiver's own words",
    )
    held = made_row_id(capped)
    with slots_taken(capped, CAP):
        assert services.delivery_send(delivery_id=held) == "pending"

    assert services.delivery_send(delivery_id=made_row_id(capped)) == "delivered"

    # Before: the older "marked" retry took the slot, its text cut.
    assert broker == [held]
    row = WebhookDelivery.objects.get(pk=failed)
    assert row.next_attempt_at == step
    assert row.last_error == f"{OLD_MARKER}the receiver's own words"


def test_a_held_row_whose_last_error_is_rewritten_still_gets_a_slot(capped, broker):
    held = made_row_id(capped)
    with slots_taken(capped, CAP):
        assert services.delivery_send(delivery_id=held) == "pending"
    # Its text changed (by hand, or by a later version's wording).
    WebhookDelivery.objects.filter(pk=held).update(last_error="edited by staff")

    assert services.delivery_send(delivery_id=made_row_id(capped)) == "delivered"

    assert broker == [held]  # before: not found by its text, left to its turn
    row = WebhookDelivery.objects.get(pk=held)
    assert row.last_error == "edited by staff"


def test_a_held_row_claimed_on_its_turn_no_longer_waits_for_a_slot(capped, broker):
    held = made_row_id(capped)
    with slots_taken(capped, CAP):
        assert services.delivery_send(delivery_id=held) == "pending"
    # Its turn comes before any slot is handed on: it is sent by the sweep.
    WebhookDelivery.objects.filter(pk=held).update(next_attempt_at=database_now())

    assert services.delivery_send(delivery_id=held) == "delivered"

    row = WebhookDelivery.objects.get(pk=held)
    assert row.waits_for_slot is False
    assert handoff.hand_on(capped.pk) is None
