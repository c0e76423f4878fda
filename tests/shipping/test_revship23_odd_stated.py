"""A carrier's stated status in a shape its spec does not give (FedEx's
latestStatusDetail as a bare string or a list, a code no table has; USPS's
statusCategory as an object or an unknown word): never a status, and the
answer's scans are still stored and followed (a garbled summary used to
fail FedEx's whole poll, its scans unread)."""

import copy

import pytest
import responses

from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.tracking_types import TrackingStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.providers.wire import load

pytestmark = pytest.mark.django_db

FEDEX = "https://apis-sandbox.fedex.com"
USPS = "https://api-cat.usps.com"
USPS_NUMBER = "9400109104250532908587"


def _shipment(provider: str, number: str, **account) -> Shipment:
    holder = ProviderAccountFactory(
        kind="shipping", provider=provider, settings=account.pop("settings"), **account
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
        idempotency_key=f"revship23-odd-{provider}",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=number,
        carrier_shipment_id="revship23",
    )


@pytest.mark.parametrize("detail", ["DL", ["DL"], {"code": "ZZ"}, {"code": 7}])
def test_fedex_an_odd_latest_status_detail_is_no_status(detail):
    shipment = _shipment(
        "fedex",
        "794843185271",
        settings={"account_number": "740561073", "max_attempts": 1},
        credentials={"client_id": "fedex-key", "client_secret": "fedex-secret"},
    )
    answer = copy.deepcopy(load("fedex", "track_response.json"))
    result = answer["output"]["completeTrackResults"][0]["trackResults"][0]
    result["scanEvents"] = [s for s in result["scanEvents"] if s["eventType"] != "DL"]
    result["latestStatusDetail"] = detail

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{FEDEX}/oauth/token", json=load("fedex", "oauth_token.json"))
        mocked.post(f"{FEDEX}/track/v1/trackingnumbers", json=answer)
        new = services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()

    assert new == len(result["scanEvents"]) > 0
    assert shipment.tracking_status not in (
        TrackingStatus.DELIVERED,
        TrackingStatus.UNKNOWN,
        TrackingStatus.PRE_TRANSIT,
    )


@pytest.mark.parametrize("category", [{"x": 1}, ["Delivered"], "Delivered ", "Lost"])
def test_usps_an_odd_status_category_is_no_status(category):
    shipment = _shipment(
        "usps",
        USPS_NUMBER,
        settings={"crid": "1", "mid": "2", "account_number": "3", "max_attempts": 1},
        credentials={"client_id": "usps-key", "client_secret": "usps-secret"},
    )
    answer = copy.deepcopy(load("usps", "tracking_response.json"))
    answer["trackingEvents"] = [
        e for e in answer["trackingEvents"] if e["eventCode"] != "01"
    ]
    answer["statusCategory"] = category

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{USPS}/oauth2/v3/token", json=load("usps", "oauth_token.json"))
        mocked.get(f"{USPS}/tracking/v3/tracking/{USPS_NUMBER}", json=answer)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()

    assert shipment.tracking_status == TrackingStatus.OUT_FOR_DELIVERY
