"""A USPS scan read once from its local eventTimestamp (to the minute, no
GMTTimestamp sent) and once with its GMTTimestamp (to the second: the spec's
13:58:00 local is 18:58:40Z) got two dedupe keys and was stored twice; the
key now comes from fields that do not depend on which time came. Scans
stored before this under the old key are not stored again."""

import copy
import hashlib

import pytest
import responses

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.models import TrackingEvent as StoredEvent
from shipping.providers.tracking_types import TrackingStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.providers.wire import load

pytestmark = pytest.mark.django_db

USPS = "https://api-cat.usps.com"
NUMBER = "9400109104250532908587"


@pytest.fixture
def usps():
    holder = ProviderAccountFactory(
        kind="shipping",
        provider="usps",
        slug="usps-revship23",
        settings={"crid": "1", "mid": "2", "account_number": "3", "max_attempts": 1},
        credentials={"client_id": "usps-key", "client_secret": "usps-secret"},
    )
    return Shipment.objects.create(
        account=holder,
        from_address={},
        to_address={},
        parcels=[],
        carrier="USPS",
        service_code="03",
        amount=1000,
        currency="USD",
        idempotency_key="revship23-usps",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=NUMBER,
    )


def _event(index: int, **changes) -> dict:
    events = copy.deepcopy(load("usps", "tracking_response.json")["trackingEvents"])
    chosen = events[index]
    chosen.update(changes)
    return {k: v for k, v in chosen.items() if v is not None}


def _poll(shipment: Shipment, events: list[dict]) -> int:
    answer = copy.deepcopy(load("usps", "tracking_response.json"))
    answer["trackingEvents"] = events
    answer["statusCategory"] = ""  # the events alone
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{USPS}/oauth2/v3/token", json=load("usps", "oauth_token.json"))
        mocked.get(f"{USPS}/tracking/v3/tracking/{NUMBER}", json=answer)
        new = services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()
    return new


def _codes(shipment: Shipment) -> list[str]:
    return list(
        shipment.tracking_events.order_by("occurred_at").values_list(
            "carrier_status_code", flat=True
        )
    )


def test_local_time_first_then_gmt_is_one_scan(usps):
    assert _poll(usps, [_event(0, GMTTimestamp=None), _event(1)]) == 2
    updates = Event.objects.filter(name="shipment.tracking_updated").count()

    assert _poll(usps, [_event(0), _event(1)]) == 0

    assert _codes(usps) == ["OF", "01"]
    assert usps.tracking_status == TrackingStatus.DELIVERED
    assert Event.objects.filter(name="shipment.tracking_updated").count() == updates


def test_gmt_first_then_local_time_is_one_scan(usps):
    _poll(usps, [_event(0), _event(1)])

    assert (
        _poll(usps, [_event(0, GMTTimestamp=None), _event(1, GMTTimestamp=None)]) == 0
    )

    assert _codes(usps) == ["OF", "01"]


def test_two_scans_of_one_minute_with_other_codes_stay_two(usps):
    first = _event(1, GMTTimestamp="2024-11-22T14:10:05Z")
    other = _event(
        1, GMTTimestamp="2024-11-22T14:10:50Z", eventCode="07", eventType="Arrived"
    )

    assert _poll(usps, [other, first]) == 2


def _old_key(code: str, status: str, at: str, description: str) -> str:
    # How a scan was keyed before: its time to the second.
    return hashlib.sha256(
        "|".join((at, status, code, description)).encode()
    ).hexdigest()


def test_a_scan_stored_under_the_old_key_is_not_stored_again(usps):
    gmt = _event(0)
    StoredEvent.objects.create(
        shipment=usps,
        status="delivered",
        carrier_status_code="01",
        description=gmt["eventType"],
        occurred_at="2024-11-22T18:58:40+00:00",
        dedupe_key=_old_key(
            "01", "delivered", "2024-11-22T18:58:40+00:00", gmt["eventType"]
        ),
    )

    assert _poll(usps, [gmt]) == 0

    assert _codes(usps) == ["01"]
