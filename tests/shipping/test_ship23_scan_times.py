"""Scan times carriers send incompletely. USPS: an event without
``GMTTimestamp`` was dropped; its local ``eventTimestamp`` with its
``GMTOffset`` (written without a leading zero in the spec's example, -7:00)
places it. UPS: an activity with a date and no time is placed at the start
of its day (the earliest zone's, UTC+14, when no offset came), so it never
orders after a scan of its own day and never makes the status follow an
older scan (its spec lists activities newest first; a newer date-only one
ordered early only leaves the status on the scan before it)."""

import copy

import pytest
import responses

from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.tracking_types import TrackingStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.providers.wire import load

pytestmark = pytest.mark.django_db

USPS = "https://api-cat.usps.com"
USPS_NUMBER = "9400109104250532908587"
UPS = "https://wwwcie.ups.com"
UPS_NUMBER = "1Z1442YY7229014688"


def _shipment(provider: str, number: str, **account) -> Shipment:
    holder = ProviderAccountFactory(
        kind="shipping", provider=provider, slug=f"{provider}-ship23", **account
    )
    return Shipment.objects.create(
        account=holder,
        from_address={},
        to_address={},
        parcels=[],
        carrier=provider.upper(),
        service_code="03",
        amount=1000,
        currency="USD",
        idempotency_key=f"ship23-times-{provider}",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=number,
    )


def _stored(shipment: Shipment) -> list[tuple[str, str]]:
    return [
        (e.carrier_status_code, e.occurred_at.isoformat())
        for e in shipment.tracking_events.order_by("occurred_at")
    ]


# --- USPS ---------------------------------------------------------------------


@pytest.fixture
def usps():
    return _shipment(
        "usps",
        USPS_NUMBER,
        settings={"crid": "1", "mid": "2", "account_number": "3", "max_attempts": 1},
        credentials={"client_id": "usps-key", "client_secret": "usps-secret"},
    )


def _usps_poll(shipment: Shipment, events: list[dict]) -> None:
    answer = copy.deepcopy(load("usps", "tracking_response.json"))
    answer["trackingEvents"] = events
    answer["statusCategory"] = ""  # the events alone
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{USPS}/oauth2/v3/token", json=load("usps", "oauth_token.json"))
        mocked.get(f"{USPS}/tracking/v3/tracking/{USPS_NUMBER}", json=answer)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()


def _usps_event(index: int, **changes) -> dict:
    event = copy.deepcopy(load("usps", "tracking_response.json")["trackingEvents"])
    chosen = event[index]
    chosen.update(changes)
    return {k: v for k, v in chosen.items() if v is not None}


def test_a_usps_event_without_its_gmt_time_reads_its_local_time_and_offset(usps):
    # The fixture's newest two: delivered 13:58 local, out for delivery 09:10.
    delivered = _usps_event(0, GMTTimestamp=None)
    out = _usps_event(1)

    _usps_poll(usps, [delivered, out])

    assert _stored(usps) == [
        ("OF", "2024-11-22T14:10:45+00:00"),
        ("01", "2024-11-22T18:58:00+00:00"),
    ]
    assert usps.tracking_status == TrackingStatus.DELIVERED


def test_the_specs_offset_without_a_leading_zero_and_its_zone_letter(usps):
    # USPS's example: "eventTimestamp": "2019-08-24T14:15:22Z", "GMTOffset":
    # "-7:00"; the timestamp is the local clock, the offset its zone.
    event = _usps_event(
        1,
        GMTTimestamp=None,
        eventTimestamp="2024-11-22T09:10:00Z",
        GMTOffset="-7:00",
    )

    _usps_poll(usps, [event])

    assert _stored(usps) == [("OF", "2024-11-22T16:10:00+00:00")]
    assert usps.tracking_status == TrackingStatus.OUT_FOR_DELIVERY


def test_a_usps_event_with_no_time_at_all_is_still_dropped(usps):
    event = _usps_event(1, GMTTimestamp=None, eventTimestamp=None)

    _usps_poll(usps, [event])

    assert _stored(usps) == []


# --- UPS ----------------------------------------------------------------------


@pytest.fixture
def ups():
    return _shipment(
        "ups",
        UPS_NUMBER,
        settings={"account_number": "A1B2C3", "max_attempts": 1},
        credentials={"client_id": "id", "client_secret": "secret"},
    )


def _activity(kind: str, code: str, **times: str) -> dict:
    base = load("ups", "track_response.json")["trackResponse"]["shipment"][0]
    activity = copy.deepcopy(base["package"][0]["activity"][0])
    activity["status"] = {"type": kind, "description": code, "code": code}
    for field in ("date", "time"):
        activity.pop(field)
    activity.update(times)
    return activity


def _ups_poll(shipment: Shipment, *activities: dict) -> None:
    answer = load("ups", "track_response.json")
    package = answer["trackResponse"]["shipment"][0]["package"][0]
    package["activity"] = list(activities)
    # UPS states its newest activity's status (the first listed) as current.
    package["currentStatus"] = dict(activities[0]["status"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            f"{UPS}/security/v1/oauth/token", json=load("ups", "oauth_token.json")
        )
        mocked.get(f"{UPS}/api/track/v1/details/{UPS_NUMBER}", json=answer)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()


def test_a_date_without_time_or_offset_never_outranks_a_newer_scan_of_its_day(ups):
    # Newest first: a scan at 02:00 on the 10th in UTC+8 (18:00 on the 9th
    # in GMT), then an older exception UPS dated the 10th with no time.
    arrived = _activity(
        "I",
        "AR",
        date="20210210",
        time="020000",
        gmtDate="20210209",
        gmtTime="180000",
        gmtOffset="+08:00",
    )
    held = _activity("X", "HX", date="20210210")

    _ups_poll(ups, arrived, held)

    assert ups.tracking_status == TrackingStatus.IN_TRANSIT
    assert _stored(ups) == [
        ("HX", "2021-02-09T10:00:00+00:00"),
        ("AR", "2021-02-09T18:00:00+00:00"),
    ]


def test_a_date_without_time_is_the_start_of_its_local_day(ups):
    departed = _activity("I", "DP", date="20210210", time="090000", gmtOffset="-05:00")
    held = _activity("X", "HX", date="20210210", gmtOffset="-05:00")
    earlier = _activity("I", "OR", date="20210209", time="180000", gmtOffset="-05:00")

    _ups_poll(ups, departed, held, earlier)

    assert ups.tracking_status == TrackingStatus.IN_TRANSIT
    assert _stored(ups) == [
        ("OR", "2021-02-09T23:00:00+00:00"),
        ("HX", "2021-02-10T05:00:00+00:00"),
        ("DP", "2021-02-10T14:00:00+00:00"),
    ]

    # Alone on its day it is followed: nothing of that day came after it.
    _ups_poll(ups, _activity("X", "HY", date="20210211", gmtOffset="-05:00"))

    assert ups.tracking_status == TrackingStatus.EXCEPTION
