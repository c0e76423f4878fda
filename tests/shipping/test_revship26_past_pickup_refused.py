"""Review of ship26's past-pickup paragraph (docs/shipping.md), against the
code: "a refusal leaves it unknown for staff, nothing sent" holds for a
cancel retried while an earlier one is in doubt. A first cancel at the
carrier when the pickup's day passes, refused, is a definite answer: the
pickup stays scheduled with no doubt left, and the next sweep marks it past
and sends ``pickup.past`` (no ``unknown``, no ``pickup.cancelled``)."""

import json

import pytest
import responses

from integrations.models import Event
from shipping import services
from shipping.models import Pickup, PickupStatus
from shipping.services.pickups import pickups_past_sweep
from storefront_hooks.catalog import EVENT_TYPES
from tests.shipping.helpers import pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"


def _sent(pickup: Pickup) -> list[tuple[str, str]]:
    return [
        (name, payload["status"])
        for name, payload in Event.objects.filter(subject=pickup.public_id)
        .order_by("pk")
        .values_list("name", "payload")
        if name in EVENT_TYPES
    ]


def test_a_first_cancel_refused_after_the_day_passed_ends_past():
    ups = ups_account("ups-revship26-past", breaker_consecutive_failures=50)
    pickup = scheduled_pickup(ups, "2929602E9CP", pickup_date=pickup_day(-1))

    def refused(request):
        # The day passes while our first cancel is at the carrier: the sweep
        # leaves it (claimed, our cancel out), then UPS refuses.
        Pickup.objects.filter(pk=pickup.pk).update(pickup_date=pickup_day(-3))
        assert pickups_past_sweep() == 0
        return 400, {}, _body("error_validation.json")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.add_callback(responses.DELETE, CANCEL_URL, callback=refused)
        with pytest.raises(services.ShippingError) as caught:
            services.pickup_cancel(pickup=pickup)

    assert caught.value.code == "carrier_rejected"
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_requested_at) == (PickupStatus.SCHEDULED, None)
    assert _sent(pickup) == []

    assert pickups_past_sweep() == 1
    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.PAST
    assert _sent(pickup) == [("pickup.past", "past")]


def _body(name: str) -> str:
    return json.dumps(load("ups", name))
