"""A parcel returned to the shipper read as delivered. Each carrier scans
the return (UPS status type RS "Returned to shipper", FedEx RS "Return to
shipper", DHL RT "returned to consignor", Shippo RETURNED) and then, as the
parcel reaches the shipper, its usual delivery (UPS D, FedEx DL, DHL OK,
Shippo DELIVERED), often also as its stated current status. The newest
scan (or the stated word) won: the shipment ended ``delivered`` and the shop
was told ``shipment.delivered`` for a parcel its customer never got. A
delivery after a return is now read as returned (our ``returned``, final).

And UPS's out for delivery (status type I, whose wording alone tells it)
was any description containing the words: it is UPS's wording exactly."""

from datetime import timedelta

import pytest
import responses

from integrations.models import Event
from shipping.models import Shipment
from shipping.providers.dhl_express import DHLExpressAdapter
from shipping.providers.shippo import ShippoAdapter
from shipping.providers.tracking_types import TrackingStatus, TrackRequest
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.test_dhl_express import BASE as DHL_BASE
from tests.shipping.providers.test_shippo import BASE as SHIPPO_BASE
from tests.shipping.providers.test_shippo import NUMBER as SHIPPO_NUMBER
from tests.shipping.providers.wire import load
from tests.shipping.test_ship24_ups_current_status import (  # noqa: F401
    LABEL,
    LABEL_AT,
    _activity,
    _answer,
    _current,
    bought,
)
from tests.shipping.test_ship28_fedex_cancelled import (  # noqa: F401
    CREATED,
    _fedex_answer,
    _poll_fedex,
    _scan,
    fedex,
)
from tests.shipping.ups_answers import poll

pytestmark = pytest.mark.django_db

PICKED_UP = _activity("P", "PU", "Pickup Scan", LABEL_AT + timedelta(hours=5))
RETURNING = _activity("RS", "RS", "Returned to shipper", LABEL_AT + timedelta(hours=30))
BACK_HOME = _activity("D", "F4", "DELIVERED ", LABEL_AT + timedelta(hours=50))


def _told_delivered(shipment: Shipment) -> bool:
    return Event.objects.filter(
        name="shipment.delivered", subject=shipment.public_id
    ).exists()


def _statuses(shipment: Shipment) -> list[tuple[str, str]]:
    return list(
        shipment.tracking_events.order_by("occurred_at").values_list(
            "carrier_status_code", "status"
        )
    )


def test_ups_delivery_after_a_return_is_returned(bought):  # noqa: F811
    poll(bought, _answer(None, BACK_HOME, RETURNING, PICKED_UP, LABEL))

    assert bought.tracking_status == TrackingStatus.RETURNED
    assert bought.delivered_at is None
    assert not _told_delivered(bought)
    assert _statuses(bought)[-2:] == [
        ("RS", TrackingStatus.RETURNED),
        ("F4", TrackingStatus.RETURNED),
    ]


def test_ups_stated_delivery_after_a_return_is_returned(bought):  # noqa: F811
    stated = _current("D", "DELIVERED ")
    poll(bought, _answer(stated, BACK_HOME, RETURNING, PICKED_UP, LABEL))

    assert bought.tracking_status == TrackingStatus.RETURNED
    assert not _told_delivered(bought)


def test_ups_delivery_with_no_return_is_still_delivered(bought):  # noqa: F811
    poll(bought, _answer(_current("D", "DELIVERED "), BACK_HOME, PICKED_UP, LABEL))

    assert bought.tracking_status == TrackingStatus.DELIVERED
    assert _told_delivered(bought)


@pytest.mark.parametrize(
    ("wording", "expected"),
    [
        ("Out For Delivery Today", TrackingStatus.OUT_FOR_DELIVERY),
        (" OUT FOR DELIVERY ", TrackingStatus.OUT_FOR_DELIVERY),
        ("Not out for delivery today: rescheduled", TrackingStatus.IN_TRANSIT),
        ("Was out for delivery; returned to the facility", TrackingStatus.IN_TRANSIT),
    ],
)
def test_ups_out_for_delivery_is_its_wording_exactly(bought, wording, expected):  # noqa: F811
    scan = _activity("I", "OT", wording, LABEL_AT + timedelta(hours=9))
    poll(bought, _answer(None, scan, PICKED_UP, LABEL))

    assert bought.tracking_status == expected


def test_fedex_delivery_after_return_to_shipper_is_returned(fedex):  # noqa: F811
    picked = _scan("PU", "Picked up", "2026-12-01T15:00:00Z")
    back = _scan("RS", "Return to shipper", "2026-12-03T10:00:00Z")
    home = _scan("DL", "Delivered", "2026-12-05T10:00:00Z")
    _poll_fedex(fedex, _fedex_answer(home, back, picked, CREATED, latest="DL"))

    assert fedex.tracking_status == TrackingStatus.RETURNED
    assert not _told_delivered(fedex)


def _dhl_returned() -> dict:
    answer = load("dhl_express", "tracking_response.json")
    shipment = answer["shipments"][0]
    delivered, *older = shipment["events"]
    returned = {
        **older[0],
        "typeCode": "RT",
        "description": "Returned to consignor",
        "time": "15:00:00",
    }
    shipment["events"] = [{**delivered, "date": "2024-11-09"}, returned, *older]
    return answer


def test_dhl_delivery_after_returned_to_consignor_is_returned():
    dhl_adapter = DHLExpressAdapter(
        ProviderAccountFactory(
            kind="shipping",
            provider="dhl_express",
            settings={"account_number": "950000002", "max_attempts": 1},
            credentials={"api_key": "dhl-user", "api_secret": "dhl-pass"},
        )
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.get(f"{DHL_BASE}/tracking", json=_dhl_returned())
        info = dhl_adapter.track(shared.track_request("1234567890"))

    assert info.status is TrackingStatus.RETURNED  # DHL states "delivered"
    assert [e.status for e in info.events][-2:] == [TrackingStatus.RETURNED] * 2


def _shippo_returned() -> dict:
    answer = load("shippo", "track.json")
    history = answer["tracking_history"]
    delivered = history[-1]
    returned = {
        **history[1],
        "status": "RETURNED",
        "substatus": None,
        "status_date": "2016-07-22T10:00:00Z",
        "status_details": "Returned to sender",
    }
    answer["tracking_history"] = [*history[:2], returned, delivered]
    answer["tracking_status"] = delivered
    return answer


def test_shippo_delivered_after_returned_is_returned():
    shippo_adapter = ShippoAdapter(
        ProviderAccountFactory(
            kind="shipping",
            provider="shippo",
            settings={"max_attempts": 1},
            credentials={"api_token": "shippo_test_31"},
        )
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.get(
            f"{SHIPPO_BASE}/tracks/usps/{SHIPPO_NUMBER}", json=_shippo_returned()
        )
        info = shippo_adapter.track(
            TrackRequest(tracking_number=SHIPPO_NUMBER, service_code="usps_priority")
        )

    assert info.status is TrackingStatus.RETURNED
    assert info.events[-1].status is TrackingStatus.RETURNED
