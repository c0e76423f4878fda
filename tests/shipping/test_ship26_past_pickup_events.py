"""What the storefront receives for a pickup whose day passed while a cancel
of ours was out (docs/shipping.md said "No event is sent for it", which
read as if the later cancel went unannounced; ``pickup.cancelled`` is sent).

- Held ``scheduled`` (our cancel in doubt): the sweep sends no
  ``pickup.past``; the retried cancel's success sends ``pickup.cancelled``,
  a refusal leaves it ``unknown`` for staff and sends nothing.
- Marked ``past`` meanwhile (staff settled it booked after our cancel set
  out, then the sweep ran): ``pickup.past`` was sent; the carrier's late
  success still ends it cancelled and sends ``pickup.cancelled`` (status
  ``cancelled``). The staff note ``pickup.cancel_after_settle`` is never
  sent out."""

import json
from datetime import timedelta

import pytest
import responses

from integrations.clock import database_now
from integrations.models import Event
from shipping import services
from shipping.models import Pickup, PickupStatus
from shipping.services.claims import CLAIM_LIFE
from shipping.services.pickups import pickups_past_sweep
from storefront_hooks.catalog import EVENT_TYPES
from tests.shipping.helpers import api_client, pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"


@pytest.fixture
def ups():
    return ups_account("ups-ship26-past", breaker_consecutive_failures=50)


def _sent(pickup: Pickup) -> list[tuple[str, str]]:
    """The storefront events of ``pickup``, in order, with their status."""
    return [
        (name, payload["status"])
        for name, payload in Event.objects.filter(subject=pickup.public_id)
        .order_by("pk")
        .values_list("name", "payload")
        if name in EVENT_TYPES
    ]


def test_a_held_pickup_gets_no_past_event_then_pickup_cancelled(ups):
    pickup = scheduled_pickup(
        ups,
        "2929602E9CP",
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
    )
    assert pickups_past_sweep() == 0

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(CANCEL_URL, json=load("ups", "pickup_cancel_response.json"))
        answer = api_client("shipping:read", "shipping:write").post(
            f"/api/v1/shipping/pickups/{pickup.public_id}/cancel/",
            HTTP_IDEMPOTENCY_KEY=f"cancel-{pickup.public_id}",
        )

    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == PickupStatus.CANCELLED
    assert _sent(pickup) == [("pickup.cancelled", "cancelled")]


def test_a_held_pickup_whose_retry_is_refused_sends_nothing(ups):
    pickup = scheduled_pickup(
        ups,
        "2929602E9CP",
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
    )
    assert pickups_past_sweep() == 0

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(CANCEL_URL, status=400, json=load("ups", "error_validation.json"))
        with pytest.raises(services.ShippingError) as caught:
            services.pickup_cancel(pickup=pickup)

    assert caught.value.code == "cancel_in_doubt"
    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.UNKNOWN
    assert _sent(pickup) == []


def test_one_marked_past_meanwhile_gets_past_then_pickup_cancelled(ups):
    pickup = scheduled_pickup(ups, "2929602E9CP", pickup_date=pickup_day(-1))

    def meanwhile(request):
        # While our cancel is at the carrier: staff settle the pickup booked
        # (the doubt cleared, stamped), its day passes, our claim outlives
        # its life, and the sweep runs.
        now = database_now()
        Pickup.objects.filter(pk=pickup.pk).update(
            cancel_requested_at=None,
            settled_at=now,
            pickup_date=pickup_day(-3),
            cancel_started_at=now - CLAIM_LIFE - timedelta(minutes=1),
        )
        assert pickups_past_sweep() == 1
        return 200, {}, _cancel_body()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.add_callback(responses.DELETE, CANCEL_URL, callback=meanwhile)
        services.pickup_cancel(pickup=pickup)

    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.CANCELLED
    assert _sent(pickup) == [("pickup.past", "past"), ("pickup.cancelled", "cancelled")]
    assert Event.objects.filter(
        subject=pickup.public_id, name="pickup.cancel_after_settle"
    ).exists()
    assert "pickup.cancel_after_settle" not in EVENT_TYPES


def _cancel_body() -> str:
    return json.dumps(load("ups", "pickup_cancel_response.json"))
