"""A scheduled pickup whose day has passed was still sent to the carrier
when cancelled, and the carrier's refusal shown (UPS, FedEx and DHL cancel
a pickup only before it is done: DHL answers "already cancelled or
completed"). Its day gone, the driver came or not: there is nothing left to
cancel. It is answered here, 409 ``pickup_date_passed`` naming the day,
with no carrier call and the pickup left as it was. "Passed" is before the
window a pickup is booked in (yesterday in UTC: still today where the day
starts later), on the database's clock."""

import pytest
import responses
from rest_framework.test import APIClient

from integrations.models import ProviderCall
from shipping import services
from shipping.models import Pickup, PickupStatus
from tests.shipping.helpers import api_client, pickup_day, scheduled_pickup
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


def _cancel(api, pickup: Pickup):
    return api.post(
        f"/api/v1/shipping/pickups/{pickup.public_id}/cancel/",
        HTTP_IDEMPOTENCY_KEY=f"cancel-{pickup.public_id}",
    )


def test_a_past_pickup_is_a_409_with_no_carrier_call(api, ups):
    day = pickup_day(-2)
    pickup = scheduled_pickup(ups, "2929602E9CP", pickup_date=day)

    with responses.RequestsMock() as mocked:
        answer = _cancel(api, pickup)
        assert not mocked.calls

    assert answer.status_code == 409, answer.content
    error = answer.json()["error"]
    assert error["code"] == "pickup_date_passed"
    assert day.isoformat() in error["message"]
    stored = Pickup.objects.get(pk=pickup.pk)
    assert stored.status == PickupStatus.SCHEDULED
    assert (stored.cancel_started_at, stored.cancel_requested_at) == (None, None)
    assert not ProviderCall.objects.exists()


def test_staff_cancelling_a_past_pickup_are_told_so(ups):
    pickup = scheduled_pickup(ups, "2929602E9CP", pickup_date=pickup_day(-5))

    with responses.RequestsMock(), pytest.raises(services.ShippingError) as refused:
        services.pickup_cancel(pickup=pickup)

    assert (refused.value.code, refused.value.status_code) == (
        "pickup_date_passed",
        409,
    )


def test_a_pickup_for_yesterday_in_utc_is_still_cancelled_at_the_carrier(api, ups):
    pickup = scheduled_pickup(ups, "2929602E9CP", pickup_date=pickup_day(-1))

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(
            PICKUP_CANCEL_URL, json=load("ups", "pickup_cancel_response.json")
        )
        answer = _cancel(api, pickup)

    assert answer.status_code == 200, answer.content
    assert cancel.call_count == 1
    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.CANCELLED


def test_a_cancelled_past_pickup_is_still_answered_cancelled(api, ups):
    pickup = scheduled_pickup(
        ups,
        "2929602E9CP",
        pickup_date=pickup_day(-3),
        status=PickupStatus.CANCELLED,
    )

    with responses.RequestsMock() as mocked:
        answer = _cancel(api, pickup)
        assert not mocked.calls

    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == PickupStatus.CANCELLED
