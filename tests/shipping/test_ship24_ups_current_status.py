"""UPS's ``currentStatus`` (Track API v1, ``package[].currentStatus``, the
``Status`` schema an activity's status has too) was never read: a UPS parcel
followed its newest activity only. It is the carrier's stated status, heard
through the base class's one rule (forward only, never from a stale answer),
as FedEx's latestStatusDetail and USPS's statusCategory are."""

import copy
from datetime import UTC, datetime, timedelta

import pytest
import responses

from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.tracking_types import TrackingStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.providers.wire import load

pytestmark = pytest.mark.django_db

BASE = "https://wwwcie.ups.com"
NUMBER = "1Z1442YY7229014688"
TRACK_URL = f"{BASE}/api/track/v1/details/{NUMBER}"


@pytest.fixture
def bought() -> Shipment:
    account = ProviderAccountFactory(
        kind="shipping",
        provider="ups",
        slug="ups-ship24",
        settings={
            "account_number": "A1B2C3",
            "max_attempts": 1,
            "breaker_consecutive_failures": 50,
        },
        credentials={"client_id": "ups-client", "client_secret": "ups-secret"},
    )
    return Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="UPS",
        service_code="03",
        amount=1000,
        currency="USD",
        idempotency_key="ship24-ups-1",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=NUMBER,
        carrier_shipment_id=NUMBER,
    )


def _activity(kind: str, code: str, description: str, at: datetime) -> dict:
    return {
        "location": {"address": {"countryCode": "US", "country": "US"}},
        "status": {"type": kind, "description": description, "code": code},
        "gmtDate": at.strftime("%Y%m%d"),
        "gmtTime": at.strftime("%H:%M:%S"),
    }


def _answer(current: object, *activities: dict) -> dict:
    answer = copy.deepcopy(load("ups", "track_response.json"))
    package = answer["trackResponse"]["shipment"][0]["package"][0]
    package["activity"] = list(activities)  # newest first, as UPS sends them
    if current is None:
        package.pop("currentStatus")
    else:
        package["currentStatus"] = current
    return answer


def _current(kind: str, description: str) -> dict:
    return {"type": kind, "description": description, "code": "", "statusCode": ""}


def _poll(shipment: Shipment, answer: dict) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            f"{BASE}/security/v1/oauth/token", json=load("ups", "oauth_token.json")
        )
        mocked.get(TRACK_URL, json=answer)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()


LABEL_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LABEL = _activity("M", "MP", "Shipper created a label", LABEL_AT)


def test_the_fixture_states_the_status_of_its_newest_activity():
    package = load("ups", "track_response.json")["trackResponse"]["shipment"][0][
        "package"
    ][0]
    newest = package["activity"][0]["status"]
    current = package["currentStatus"]
    assert (current["type"], current["code"], current["statusCode"]) == (
        newest["type"],
        newest["code"],
        newest["statusCode"],
    )


def test_current_status_counts_where_the_activities_do_not_show_it(bought):
    # UPS lists only the label scan yet, and says the parcel is on its way.
    _poll(bought, _answer(_current("I", "Arrived at Facility"), LABEL))

    assert bought.tracking_status == TrackingStatus.IN_TRANSIT
    assert bought.tracking_event_at == LABEL_AT


def test_out_for_delivery_is_read_off_the_current_status_wording(bought):
    stated = _current("I", "Out For Delivery Today")
    _poll(bought, _answer(stated, LABEL))

    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY


def test_a_stated_delivery_without_its_scan_is_delivered(bought):
    moved = _activity("I", "AR", "Arrived at Facility", LABEL_AT + timedelta(hours=5))
    _poll(bought, _answer(_current("D", "DELIVERED "), moved, LABEL))

    assert bought.tracking_status == TrackingStatus.DELIVERED
    assert bought.delivered_at is not None


def test_a_stale_answer_never_takes_the_stated_status_back(bought):
    later = LABEL_AT + timedelta(hours=8)
    out = _activity("I", "OF", "Out For Delivery Today", later)
    _poll(bought, _answer(_current("I", "Out For Delivery Today"), out, LABEL))
    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY

    # An answer cached before the out-for-delivery scan: in transit then.
    _poll(bought, _answer(_current("I", "Arrived at Facility"), LABEL))

    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY
    assert bought.tracking_event_at == later


@pytest.mark.parametrize("current", [None, "D", ["D"], _current("ZZ", "Odd")])
def test_no_or_an_unreadable_current_status_leaves_the_scans_to_speak(bought, current):
    moved = _activity("I", "AR", "Arrived at Facility", LABEL_AT + timedelta(hours=5))
    _poll(bought, _answer(current, moved, LABEL))

    assert bought.tracking_status == TrackingStatus.IN_TRANSIT
    assert bought.tracking_events.count() == 2
