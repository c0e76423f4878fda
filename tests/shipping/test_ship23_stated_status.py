"""The carrier's own current status (FedEx latestStatusDetail, USPS
statusCategory, DHL Express's shipment status, Shippo's tracking_status) was
never used: the shipment followed its newest event only. Where the carrier
states a status the newest event does not give (no events yet, a delivered
status whose scan is missing), the carrier's word counts, dated to the
answer's newest scan; the out-of-order guards still hold for it."""

import copy

import pytest
import responses

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.tracking_types import TrackingStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.providers.wire import load

pytestmark = pytest.mark.django_db

USPS = "https://api-cat.usps.com"
USPS_NUMBER = "9400109104250532908587"
USPS_TRACK = f"{USPS}/tracking/v3/tracking/{USPS_NUMBER}"
FEDEX = "https://apis-sandbox.fedex.com"
DHL_TRACK = "https://express.api.dhl.com/mydhlapi/test/tracking"
SHIPPO_NUMBER = "9205590164917312751089"
SHIPPO_TRACK = f"https://api.goshippo.com/tracks/usps/{SHIPPO_NUMBER}"


def _shipment(provider: str, number: str, **account) -> Shipment:
    settings = {"max_attempts": 1, "breaker_consecutive_failures": 50}
    settings.update(account.pop("settings", {}))
    holder = ProviderAccountFactory(
        kind="shipping", provider=provider, settings=settings, **account
    )
    return Shipment.objects.create(
        account=holder,
        from_address={},
        to_address={},
        parcels=[],
        carrier=provider,
        service_code="x",
        amount=790,
        currency="USD",
        idempotency_key=f"ship23-{provider}",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=number,
        carrier_shipment_id="ship23",
    )


@pytest.fixture
def usps():
    return _shipment(
        "usps",
        USPS_NUMBER,
        settings={"crid": "56982563", "mid": "904128936", "account_number": "1"},
        credentials={"client_id": "usps-key", "client_secret": "usps-secret"},
    )


def _usps_answer(*, drop_codes=(), category="Delivered", events=None) -> dict:
    answer = copy.deepcopy(load("usps", "tracking_response.json"))
    if events is not None:
        answer["trackingEvents"] = events
    answer["trackingEvents"] = [
        e for e in answer["trackingEvents"] if e["eventCode"] not in drop_codes
    ]
    answer["statusCategory"] = category
    return answer


def _poll_usps(shipment: Shipment, answer: dict) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{USPS}/oauth2/v3/token", json=load("usps", "oauth_token.json"))
        mocked.get(USPS_TRACK, json=answer)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()


def _events(name: str) -> int:
    return Event.objects.filter(name=name).count()


def test_usps_says_delivered_while_its_delivery_scan_is_missing(usps):
    _poll_usps(usps, _usps_answer(drop_codes=("01",)))

    assert usps.tracking_status == TrackingStatus.DELIVERED
    assert usps.delivered_at is not None
    # Dated to the answer's newest scan (out for delivery, 14:10:45 GMT).
    assert usps.tracking_event_at.isoformat() == "2024-11-22T14:10:45+00:00"
    assert _events("shipment.delivered") == 1


def test_the_carriers_word_counts_on_a_poll_with_no_new_scan(usps):
    _poll_usps(usps, _usps_answer(drop_codes=("01",), category="Out for Delivery"))
    assert usps.tracking_status == TrackingStatus.OUT_FOR_DELIVERY

    _poll_usps(usps, _usps_answer(drop_codes=("01",), category="Delivered"))

    assert usps.tracking_status == TrackingStatus.DELIVERED
    assert _events("shipment.delivered") == 1
    assert _events("shipment.tracking_updated") == 2


def test_no_scans_yet_the_carriers_status_counts(usps):
    _poll_usps(usps, _usps_answer(events=[], category="Accepted"))

    assert usps.tracking_status == TrackingStatus.IN_TRANSIT
    assert usps.tracking_event_at is None
    assert _events("shipment.tracking_updated") == 1


def test_an_alert_the_newest_scan_does_not_show_counts(usps):
    _poll_usps(usps, _usps_answer(drop_codes=("01", "OF", "07"), category="Alert"))

    assert usps.tracking_status == TrackingStatus.EXCEPTION


def test_an_answer_older_than_the_scan_followed_is_not_heard(usps):
    _poll_usps(usps, _usps_answer(category="Delivered", drop_codes=("01",)))
    usps.tracking_status = TrackingStatus.OUT_FOR_DELIVERY
    usps.save()
    # A stale answer (its newest scan older than the one followed) says
    # in transit: not the parcel's state now.
    stale = _usps_answer(drop_codes=("01", "OF", "07"), category="In Transit")

    _poll_usps(usps, stale)

    assert usps.tracking_status == TrackingStatus.OUT_FOR_DELIVERY


def test_an_answer_without_scans_is_not_heard_once_a_scan_was_followed(usps):
    _poll_usps(usps, _usps_answer(drop_codes=("01", "OF", "07"), category="In Transit"))

    _poll_usps(usps, _usps_answer(events=[], category="Alert"))

    assert usps.tracking_status == TrackingStatus.IN_TRANSIT


def test_pre_shipment_after_moving_and_anything_after_delivered_are_not_heard(usps):
    _poll_usps(usps, _usps_answer(drop_codes=("01", "OF", "07"), category="In Transit"))
    _poll_usps(
        usps, _usps_answer(drop_codes=("01", "OF", "07"), category="Pre-Shipment")
    )
    assert usps.tracking_status == TrackingStatus.IN_TRANSIT

    _poll_usps(usps, _usps_answer(category="Delivered"))
    _poll_usps(usps, _usps_answer(category="Alert"))

    assert usps.tracking_status == TrackingStatus.DELIVERED
    assert _events("shipment.delivered") == 1


def test_fedex_latest_status_detail_counts():
    shipment = _shipment(
        "fedex",
        "794843185271",
        settings={"account_number": "740561073"},
        credentials={"client_id": "fedex-key", "client_secret": "fedex-secret"},
    )
    answer = copy.deepcopy(load("fedex", "track_response.json"))
    result = answer["output"]["completeTrackResults"][0]["trackResults"][0]
    result["scanEvents"] = [s for s in result["scanEvents"] if s["eventType"] != "DL"]

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{FEDEX}/oauth/token", json=load("fedex", "oauth_token.json"))
        mocked.post(f"{FEDEX}/track/v1/trackingnumbers", json=answer)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()

    assert shipment.tracking_status == TrackingStatus.DELIVERED


def test_dhl_express_shipment_status_counts():
    shipment = _shipment(
        "dhl_express",
        "1234567890",
        settings={"account_number": "950000002"},
        credentials={"api_key": "dhl-key", "api_secret": "dhl-secret"},
    )
    answer = copy.deepcopy(load("dhl_express", "tracking_response.json"))
    # DHL says delivered; its delivery checkpoint (OK) is not listed yet.
    shipped = answer["shipments"][0]
    shipped["events"] = [e for e in shipped["events"] if e["typeCode"] != "OK"]
    assert shipped["status"] == "delivered"

    with responses.RequestsMock() as mocked:
        mocked.get(DHL_TRACK, json=answer)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()

    assert shipment.tracking_status == TrackingStatus.DELIVERED


def test_shippo_tracking_status_without_a_date_counts_unknown_does_not():
    shipment = _shipment(
        "shippo",
        SHIPPO_NUMBER,
        credentials={"api_token": "shippo_test_ship23", "webhook_token": "w" * 32},
    )
    shipment.carrier, shipment.service_code = "USPS", "usps_priority"
    shipment.save()
    track = copy.deepcopy(load("shippo", "track.json"))
    track["tracking_history"] = []
    track["tracking_status"] = {**track["tracking_status"], "status": "UNKNOWN"}
    track["tracking_status"]["status_date"] = None

    with responses.RequestsMock() as mocked:
        mocked.get(SHIPPO_TRACK, json=track)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()
    assert shipment.tracking_status == TrackingStatus.PRE_TRANSIT

    track["tracking_status"]["status"] = "TRANSIT"
    track["tracking_status"]["substatus"] = None
    with responses.RequestsMock() as mocked:
        mocked.get(SHIPPO_TRACK, json=track)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()

    assert shipment.tracking_status == TrackingStatus.IN_TRANSIT
