"""FedEx's Track status code CA ("Shipment cancelled") is FedEx's word that
the label was voided there (a cancel of ours whose answer was lost, or one
made at FedEx). It was read as pre-transit only, so the shipment stayed
``purchased`` with its label served and the shop never told. As FedEx's
newest word (latestStatusDetail, else its newest scan by time) it now ends
the shipment ``voided`` with ``shipment.voided`` once, as UPS's MV does."""

import copy
from datetime import UTC, datetime

import pytest
import responses

from integrations.models import Event
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.providers.wire import load
from tests.shipping.test_ship24_ups_current_status import (  # noqa: F401
    LABEL,
    LABEL_AT,
    _activity,
    _answer,
    bought,
)

pytestmark = pytest.mark.django_db


def _voided_events(shipment: Shipment) -> int:
    return Event.objects.filter(
        name="shipment.voided", subject=shipment.public_id
    ).count()


FEDEX = "https://apis-sandbox.fedex.com"
FEDEX_NUMBER = "128667043726"  # the fixture's
BOUGHT_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # as CREATED


@pytest.fixture
def fedex() -> Shipment:
    account = ProviderAccountFactory(
        kind="shipping",
        provider="fedex",
        slug="fedex-ship28",
        settings={
            "account_number": "740561073",
            "max_attempts": 1,
            "breaker_consecutive_failures": 50,
        },
        credentials={"client_id": "fedex-key", "client_secret": "fedex-secret"},
    )
    shipment = Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="FedEx",
        service_code="FEDEX_GROUND",
        amount=990,
        currency="USD",
        idempotency_key="ship28-fedex",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=FEDEX_NUMBER,
        carrier_shipment_id=FEDEX_NUMBER,
    )
    # Bought when its label scan says: scans dated before the buy are a
    # recycled number's (test_revship28_recycled_void).
    Shipment.objects.filter(pk=shipment.pk).update(created_at=BOUGHT_AT)
    shipment.refresh_from_db()
    return shipment


def _scan(code: str, description: str, at: str) -> dict:
    return {
        "date": at,
        "eventType": code,
        "eventDescription": description,
        "derivedStatusCode": code,
        "derivedStatus": description,
        "scanLocation": {"city": "MEMPHIS", "countryCode": "US"},
    }


CREATED = _scan("OC", "Shipment information sent to FedEx", "2026-12-01T09:00:00Z")
CANCELLED = _scan("CA", "Shipment cancelled", "2026-12-01T11:00:00Z")


def _fedex_answer(*scans: dict, latest: str | None = None) -> dict:
    answer = copy.deepcopy(load("fedex", "track_response.json"))
    result = answer["output"]["completeTrackResults"][0]["trackResults"][0]
    result["scanEvents"] = list(scans)
    if latest is None:
        result.pop("latestStatusDetail", None)
    else:
        result["latestStatusDetail"] = {
            "code": latest,
            "derivedCode": latest,
            "description": "Shipment cancelled",
        }
    return answer


def _poll_fedex(shipment: Shipment, answer: dict) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{FEDEX}/oauth/token", json=load("fedex", "oauth_token.json"))
        mocked.post(f"{FEDEX}/track/v1/trackingnumbers", json=answer)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()


def test_fedex_shipment_cancelled_ends_voided_once(fedex):
    _poll_fedex(fedex, _fedex_answer(CANCELLED, CREATED))

    assert fedex.status == ShipmentStatus.VOIDED
    assert _voided_events(fedex) == 1
    _poll_fedex(fedex, _fedex_answer(CANCELLED, CREATED))
    assert _voided_events(fedex) == 1


def test_fedex_stated_cancelled_ends_voided(fedex):
    _poll_fedex(fedex, _fedex_answer(CREATED, latest="CA"))

    assert fedex.status == ShipmentStatus.VOIDED
    assert _voided_events(fedex) == 1


def test_fedex_cancelled_listed_first_but_older_voids_nothing(fedex):
    # A label made again after the cancel, FedEx listing it below.
    again = _scan("OC", "Shipment information sent", "2026-12-01T12:00:00Z")
    _poll_fedex(fedex, _fedex_answer(CANCELLED, again, CREATED))

    assert fedex.status == ShipmentStatus.PURCHASED
    assert _voided_events(fedex) == 0


def test_fedex_label_created_alone_voids_nothing(fedex):
    _poll_fedex(fedex, _fedex_answer(CREATED))

    assert fedex.status == ShipmentStatus.PURCHASED
