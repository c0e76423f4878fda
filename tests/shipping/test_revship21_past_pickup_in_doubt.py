"""A pickup whose earlier cancel of ours went out and lost its answer
(``cancel_requested_at`` set, still ``scheduled``) may have been cancelled
at the carrier. Once its day passed, the retry was refused as
``pickup_date_passed`` with no carrier call: the shop was told the pickup
could not be cancelled, and the pickup stayed ``scheduled`` with our cancel
in doubt for good, nobody ever settling it. The retry of a cancel in doubt
still goes to the carrier, whose answer settles it ("already cancelled" or
success: cancelled; a refusal: ``unknown`` for staff), as on any other day."""

from datetime import timedelta

import pytest
import responses
from rest_framework.test import APIClient

from integrations.clock import database_now
from integrations.errors import Rejected
from shipping import services
from shipping.models import Pickup, PickupStatus
from shipping.providers.sandbox import SandboxShippingAdapter
from tests.shipping.helpers import api_client, carrier, pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import ups_account

pytestmark = pytest.mark.django_db

BASE = "https://wwwcie.ups.com"
TOKEN_URL = f"{BASE}/security/v1/oauth/token"
PICKUP_CANCEL_URL = f"{BASE}/api/shipments/v2409/pickup/02"


@pytest.fixture
def ups():
    return ups_account("ups-pickups", breaker_consecutive_failures=50)


@pytest.fixture
def api() -> APIClient:
    return api_client("shipping:read", "shipping:write")


def _in_doubt(account, confirmation: str) -> Pickup:
    return scheduled_pickup(
        account,
        confirmation,
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
    )


def test_a_past_pickups_cancel_in_doubt_is_retried_at_the_carrier(api, ups):
    pickup = _in_doubt(ups, "2929602E9CP")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(
            PICKUP_CANCEL_URL, json=load("ups", "pickup_cancel_response.json")
        )
        answer = api.post(
            f"/api/v1/shipping/pickups/{pickup.public_id}/cancel/",
            HTTP_IDEMPOTENCY_KEY=f"cancel-{pickup.public_id}",
        )

    assert answer.status_code == 200, answer.content
    assert cancel.call_count == 1
    stored = Pickup.objects.get(pk=pickup.pk)
    assert (stored.status, stored.cancel_requested_at) == (PickupStatus.CANCELLED, None)


def test_a_refusal_of_that_retry_leaves_it_unknown_for_staff(monkeypatch):
    pickup = _in_doubt(carrier("post"), "PU-PAST-1")

    def refuse(self, request):
        self.cancel_going_out(request)
        raise Rejected("pickup already completed", code="pickup_completed")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", refuse)

    with pytest.raises(services.ShippingError) as caught:
        services.pickup_cancel(pickup=pickup)

    assert (caught.value.code, caught.value.status_code) == ("cancel_in_doubt", 502)
    stored = Pickup.objects.get(pk=pickup.pk)
    assert stored.status == PickupStatus.UNKNOWN
    assert "completed" in stored.failure_message
