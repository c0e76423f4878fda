"""Carrier scan codes against the carriers' published code lists, read
through each adapter's ``track`` from the spec-built fixtures with the code
changed. Found wrong: UPS's freight-only ``DO``/``DD`` types (delivered to a
container freight station, not to the consignee) read as delivered, which is
final; USPS's ``DX`` (delivery status not updated) read as delivered, and
USPS's delivery attempts (``30``, ``51``-``56``) and undeliverable
reasons (``23``-``29``, ``31``, dead letter ``11``) and DHL Express's not
delivered / customer moved / shipment stopped / destroyed checkpoints
dropped into in transit. A void of a parcel in any of these is still
refused: they are all moves."""

import copy

import pytest
import responses

from shipping.providers.dhl_express import DHLExpressAdapter
from shipping.providers.tracking_types import TrackingStatus as S
from shipping.providers.ups import UPSAdapter
from shipping.providers.usps import USPSAdapter
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import load

pytestmark = pytest.mark.django_db

UPS_BASE = "https://wwwcie.ups.com"
UPS_NUMBER = "1Z1442YY7229014688"
USPS_BASE = "https://api-cat.usps.com"
USPS_NUMBER = "9400109104250532908587"
DHL_BASE = "https://express.api.dhl.com/mydhlapi/test"


def _account(provider, settings, credentials):
    return ProviderAccountFactory(
        kind="shipping",
        provider=provider,
        settings={**settings, "max_attempts": 1, "breaker_consecutive_failures": 50},
        credentials=credentials,
    )


def _ups_status(kind: str, code: str, description: str) -> S:
    answer = copy.deepcopy(load("ups", "track_response.json"))
    package = answer["trackResponse"]["shipment"][0]["package"][0]
    package["activity"] = package["activity"][:1]
    package["activity"][0]["status"].update(
        type=kind, code=code, description=description
    )
    account = _account(
        "ups", {"account_number": "A1B2C3"}, {"client_id": "c", "client_secret": "s"}
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            f"{UPS_BASE}/security/v1/oauth/token", json=load("ups", "oauth_token.json")
        )
        mocked.get(f"{UPS_BASE}/api/track/v1/details/{UPS_NUMBER}", json=answer)
        info = UPSAdapter(account).track(shared.track_request(UPS_NUMBER))
    return info.events[-1].status


def _usps_status(code: str) -> S:
    answer = copy.deepcopy(load("usps", "tracking_response.json"))
    answer["trackingEvents"] = answer["trackingEvents"][:1]
    answer["trackingEvents"][0]["eventCode"] = code
    account = _account(
        "usps",
        {"crid": "56982563", "mid": "904128936", "account_number": "1000115566"},
        {"client_id": "k", "client_secret": "s"},
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            f"{USPS_BASE}/oauth2/v3/token", json=load("usps", "oauth_token.json")
        )
        mocked.get(f"{USPS_BASE}/tracking/v3/tracking/{USPS_NUMBER}", json=answer)
        info = USPSAdapter(account).track(shared.track_request(USPS_NUMBER))
    return info.events[-1].status


def _dhl_status(code: str) -> S:
    answer = copy.deepcopy(load("dhl_express", "tracking_response.json"))
    shipment = answer["shipments"][0]
    shipment["events"] = shipment["events"][:1]
    shipment["events"][0]["typeCode"] = code
    account = _account(
        "dhl_express",
        {"account_number": "950000002"},
        {"api_key": "k", "api_secret": "s"},
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.get(f"{DHL_BASE}/tracking", json=answer)
        info = DHLExpressAdapter(account).track(shared.track_request("1234567890"))
    return info.events[-1].status


@pytest.mark.parametrize(
    ("kind", "code", "description", "expected"),
    [
        ("DO", "DO", "DELIVERED ORIGIN CFS", S.IN_TRANSIT),
        ("DD", "DD", "DELIVERED DESTINATION CFS", S.IN_TRANSIT),
        ("W", "W", "WAREHOUSING", S.IN_TRANSIT),
        ("D", "F4", "DELIVERED", S.DELIVERED),
        ("MV", "MV", "BILLING INFORMATION VOIDED", S.PRE_TRANSIT),
    ],
)
def test_ups_status_types(kind, code, description, expected):
    assert _ups_status(kind, code, description) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("DX", S.EXCEPTION),  # delivery status not updated: not a delivery
        # 17 / 43 (picked up): unproven as deliveries, kept in transit
        # (tests/shipping/test_revship20_status_codes.py).
        ("17", S.IN_TRANSIT),
        ("43", S.IN_TRANSIT),
        ("30", S.EXCEPTION),  # attempted, no access to the delivery location
        ("51", S.EXCEPTION),  # business closed
        ("52", S.EXCEPTION),  # notice left
        ("53", S.EXCEPTION),  # receptacle blocked
        ("54", S.EXCEPTION),  # receptacle full / item oversized
        ("55", S.EXCEPTION),  # no secure location available
        ("56", S.EXCEPTION),  # no authorized recipient available
        ("11", S.EXCEPTION),  # dead letter
        ("23", S.EXCEPTION),  # moved, left no address
        ("24", S.EXCEPTION),  # forward expired
        ("25", S.EXCEPTION),  # addressee unknown
        ("26", S.EXCEPTION),  # vacant
        ("27", S.EXCEPTION),  # unclaimed
        ("28", S.EXCEPTION),  # deceased
        ("29", S.EXCEPTION),  # return to sender: other
        ("31", S.EXCEPTION),  # return to sender: not picked up
        ("01", S.DELIVERED),
        ("09", S.RETURNED),
        ("MA", S.PRE_TRANSIT),
        ("16", S.IN_TRANSIT),  # available for pickup: still to collect
        ("10", S.IN_TRANSIT),
    ],
)
def test_usps_event_codes(code, expected):
    assert _usps_status(code) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ND", S.EXCEPTION),  # not delivered
        ("CM", S.EXCEPTION),  # customer moved
        ("SS", S.EXCEPTION),  # shipment stopped
        ("DS", S.EXCEPTION),  # destroyed / disposal
        ("OK", S.DELIVERED),
        ("WC", S.OUT_FOR_DELIVERY),
        ("PL", S.IN_TRANSIT),
        ("CC", S.IN_TRANSIT),  # awaiting consignee collection
    ],
)
def test_dhl_express_checkpoints(code, expected):
    assert _dhl_status(code) is expected
