"""UPS's Track API status type ``NA`` is "not available": UPS has no status
for the package, which is not a scan (UPS documents the types D, I, M, MV,
P, X, RS, DO, DD, W, NA and O). It was read as unknown, and an unknown scan
after the label counts as "may have moved", so the void of a label UPS had
not scanned yet was refused before UPS was asked. UPS voids a label until
its first scan: the void goes to UPS, which still refuses one it cannot do."""

from datetime import UTC, timedelta

import pytest
import responses
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.tracking_types import TrackingStatus
from tests.factories import ApiKeyFactory
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import (
    BASE,
    TOKEN_URL,
    package,
    poll,
    track_answer,
    ups_account,
    ups_shipment,
)

pytestmark = pytest.mark.django_db

NUMBER = "1Z12345E8791315509"
VOID_URL = f"{BASE}/api/shipments/v2409/void/cancel/{NUMBER}"


@pytest.fixture
def bought() -> Shipment:
    account = ups_account("ups-na", breaker_consecutive_failures=50)
    return ups_shipment(
        account, "ups-na-1", tracking_number=NUMBER, carrier_shipment_id=NUMBER
    )


def _activity(kind: str, code: str, description: str, minutes_ago: int) -> dict:
    at = (timezone.now() - timedelta(minutes=minutes_ago)).astimezone(UTC)
    return {
        "location": {"address": {"countryCode": "US", "country": "US"}},
        "status": {"type": kind, "description": description, "code": code},
        "date": at.strftime("%Y%m%d"),
        "time": at.strftime("%H%M%S"),
    }


def _track_answer(*activities: dict) -> dict:
    answer = track_answer(*activities)
    package(answer)["trackingNumber"] = NUMBER
    # UPS states the newest activity's status as the package's current one.
    package(answer)["currentStatus"] = (
        dict(activities[0]["status"]) if activities else {}
    )
    return answer


def _polled(shipment: Shipment, *activities: dict) -> None:
    poll(shipment, _track_answer(*activities))


LABEL = ("M", "MP", "Shipper created a label, UPS has not received the package yet.")
NOT_AVAILABLE = ("NA", "NA", "Status not available")


def test_a_not_available_status_is_no_move(bought):
    _polled(bought, _activity(*NOT_AVAILABLE, 5), _activity(*LABEL, 10))

    assert bought.tracking_status == TrackingStatus.PRE_TRANSIT
    assert not services.shipment_has_moved(shipment=bought)


def test_a_label_with_only_not_available_statuses_is_voided_at_ups(bought):
    _polled(bought, _activity(*NOT_AVAILABLE, 5), _activity(*LABEL, 10))
    api = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read", "shipping:write"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        void = mocked.delete(VOID_URL, json=load("ups", "void_response.json"))
        answer = api.post(
            f"/api/v1/shipping/shipments/{bought.public_id}/void/",
            HTTP_IDEMPOTENCY_KEY="void-na-1",
        )

    assert void.call_count == 1

    assert answer.status_code == 200, answer.json()
    bought.refresh_from_db()
    assert bought.status == ShipmentStatus.VOIDED
    assert Event.objects.filter(name="shipment.voided").count() == 1


def test_a_scan_after_not_available_still_refuses_the_void_with_no_call(bought):
    pickup_scan = ("P", "XA", "Pickup Scan")
    _polled(
        bought,
        _activity(*pickup_scan, 2),
        _activity(*NOT_AVAILABLE, 5),
        _activity(*LABEL, 10),
    )
    assert bought.tracking_status == TrackingStatus.IN_TRANSIT

    with responses.RequestsMock() as mocked:
        with pytest.raises(services.ShippingError) as refused:
            services.shipment_void(shipment=bought)
        assert not mocked.calls
    assert refused.value.code == "in_transit"
