"""Shippo pickups: booked for labels bought through Shippo (its
transactions), never cancelled through it (Shippo documents no cancel), via
the adapter and the API (fixtures: tests/fixtures/shippo/README.md)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import responses
from rest_framework.test import APIClient

from integrations.errors import Rejected
from shipping.models import (
    Pickup,
    PickupStatus,
    RateQuote,
    Shipment,
    ShipmentStatus,
)
from shipping.providers.base import PickupCancellation, PickupRequest
from shipping.providers.shippo import ShippoAdapter
from shipping.providers.validation import InvalidShippingRequest
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import body_of, load, sent, unknown_fields

pytestmark = pytest.mark.django_db

PICKUPS_URL = "https://api.goshippo.com/pickups/"
CARRIER_ACCOUNT = "078870331023437cb917f5187429b093"
TRANSACTION = "915d94940ea54c3a80cbfa328722f5a1"


def fx(name: str) -> dict:
    return load("shippo", name)


@pytest.fixture
def account():
    return ProviderAccountFactory(
        kind="shipping",
        provider="shippo",
        slug="shippo-pickups",
        settings={"max_attempts": 1, "pickup_timezone": "America/Chicago"},
        credentials={"api_token": "shippo_test_token", "webhook_token": "hook"},
    )


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _request(**changes) -> PickupRequest:
    values = {
        "address": shared.SHIPPER,
        "pickup_date": date(2025, 5, 12),
        "ready_time": time(9, 0),
        "close_time": time(17, 0),
        "parcel_count": 1,
        "total_weight": shared.PARCEL.weight,
        "idempotency_key": "pickup-key",
        "carrier_shipment_ids": (TRANSACTION,),
        "carrier_account": CARRIER_ACCOUNT,
        **changes,
    }
    return PickupRequest(**values)


def test_a_pickup_is_booked_for_the_transactions(account, mocked):
    mocked.post(PICKUPS_URL, status=201, json=fx("pickup_confirmed.json"))

    booked = ShippoAdapter(account).schedule_pickup(_request())

    assert booked.confirmation_number == "WTC310058750"
    assert booked.location_code == "5ea6e1a1c7c442b5a1d2a8a0b3f4e5d6"
    assert (booked.pickup_date, booked.close_time) == (date(2025, 5, 12), time(16, 30))
    (call,) = sent(mocked, "POST", PICKUPS_URL)
    body = body_of(call)
    assert unknown_fields(body, fx("spec_pickup_request.json")) == []
    assert body["carrier_account"] == CARRIER_ACCOUNT
    assert body["transactions"] == [TRANSACTION]
    # Local to the pickup's zone (Central Daylight Time in May).
    assert body["requested_start_time"] == "2025-05-12T09:00:00-05:00"
    assert body["requested_end_time"] == "2025-05-12T17:00:00-05:00"
    assert body["location"]["building_location_type"] == "Front Door"
    assert body["location"]["address"]["zip"] == "38118"
    assert call.headers["Authorization"] == "ShippoToken shippo_test_token"


def test_a_window_confirmed_in_utc_is_read_in_the_pickups_zone(account, mocked):
    # Shippo's spec example answers in UTC ("...T12:00:00Z"): 21:30 UTC is
    # 16:30 in Chicago in May, on the same day.
    answer = {
        **fx("pickup_confirmed.json"),
        "confirmed_start_time": "2025-05-12T14:00:00Z",
        "confirmed_end_time": "2025-05-12T21:30:00Z",
    }
    mocked.post(PICKUPS_URL, status=201, json=answer)

    booked = ShippoAdapter(account).schedule_pickup(_request())

    assert (booked.pickup_date, booked.ready_time, booked.close_time) == (
        date(2025, 5, 12),
        time(9, 0),
        time(16, 30),
    )


def test_instructions_go_with_an_other_location(account, mocked):
    mocked.post(PICKUPS_URL, status=201, json=fx("pickup_confirmed.json"))

    ShippoAdapter(account).schedule_pickup(_request(instructions="Dock 4, ring"))

    location = body_of(sent(mocked, "POST", PICKUPS_URL)[0])["location"]
    assert location["building_location_type"] == "Other"
    assert location["instructions"] == "Dock 4, ring"


def test_without_transactions_nothing_is_sent(account, mocked):
    with pytest.raises(InvalidShippingRequest) as caught:
        ShippoAdapter(account).schedule_pickup(_request(carrier_shipment_ids=()))

    assert caught.value.param == "shipments"
    assert not mocked.calls


def test_an_error_status_is_refused_with_shippos_message(account, mocked):
    mocked.post(PICKUPS_URL, status=201, json=fx("pickup_error.json"))

    with pytest.raises(Rejected) as caught:
        ShippoAdapter(account).schedule_pickup(_request())

    assert caught.value.code == "pickup_refused"
    assert "not available for the requested window" in caught.value.message


def test_cancel_is_not_supported_and_calls_nobody(account, mocked):
    cancellation = PickupCancellation(
        confirmation_number="WTC310058750",
        pickup_date=date(2025, 5, 12),
        address=shared.SHIPPER,
    )

    with pytest.raises(Rejected) as caught:
        ShippoAdapter(account).cancel_pickup(cancellation)

    assert caught.value.code == "not_supported"
    assert not mocked.calls


def _bought(account) -> Shipment:
    quote = RateQuote.objects.create(
        fingerprint="p" * 64,
        account=account,
        carrier="USPS",
        service_code="usps_priority",
        amount=790,
        currency="USD",
        extra={"carrier_account": CARRIER_ACCOUNT},
        request={},
        expires_at="2099-01-01T00:00:00Z",
    )
    return Shipment.objects.create(
        account=account,
        quote=quote,
        from_address={},
        to_address={},
        parcels=[],
        carrier="USPS",
        service_code="usps_priority",
        amount=790,
        currency="USD",
        idempotency_key="bought-1",
        status=ShipmentStatus.PURCHASED,
        tracking_number="9205590164917312751089",
        carrier_shipment_id=TRANSACTION,
    )


def _api() -> APIClient:
    key = ApiKeyFactory(scopes=["shipping:read", "shipping:write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return api


def _book(api, shipments, key="pk-api"):
    data = {
        "account": "shippo-pickups",
        "address": {
            "name": "Switchyard Warehouse",
            "street_lines": ["1 Dock Road"],
            "city": "Memphis",
            "state_code": "TN",
            "postal_code": "38118",
            "country_code": "US",
            "phone": "+19015550100",
        },
        # The API books no day in the past: tomorrow (UTC).
        "pickup_date": (datetime.now(UTC).date() + timedelta(days=1)).isoformat(),
        "ready_time": "09:00",
        "close_time": "17:00",
        "parcel_count": 1,
        "total_weight": "1.000",
        "shipments": shipments,
    }
    return api.post(
        "/api/v1/shipping/pickups/", data, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def test_the_api_books_for_shipments_and_refuses_to_cancel(account, mocked):
    mocked.post(PICKUPS_URL, status=201, json=fx("pickup_confirmed.json"))
    shipment = _bought(account)
    api = _api()

    booked = _book(api, [shipment.public_id])

    assert booked.status_code == 201, booked.content
    assert booked.json()["confirmation_number"] == "WTC310058750"
    body = body_of(sent(mocked, "POST", PICKUPS_URL)[0])
    assert body["transactions"] == [TRANSACTION]
    assert body["carrier_account"] == CARRIER_ACCOUNT
    pickup = Pickup.objects.get(public_id=booked.json()["id"])
    assert list(pickup.shipments.all()) == [shipment]
    cancel = api.post(
        f"/api/v1/shipping/pickups/{pickup.public_id}/cancel/",
        HTTP_IDEMPOTENCY_KEY="cancel-1",
    )
    assert cancel.status_code == 422, cancel.content
    error = cancel.json()["error"]
    assert error["code"] == "not_supported"
    assert "WTC310058750" in error["message"]
    pickup.refresh_from_db()
    assert pickup.status == PickupStatus.SCHEDULED


def test_the_api_refuses_a_shipment_it_cannot_collect(account, mocked):
    response = _book(_api(), ["shp_unknown"])

    assert response.status_code == 404
    assert response.json()["error"]["param"] == "shipments"
    assert not mocked.calls
    assert not Pickup.objects.exists()


@pytest.mark.parametrize("code", ["C" * 100, "WTC\x00310058750"])
def test_a_confirmation_code_that_cannot_be_stored_leaves_the_pickup_unknown(
    account, mocked, code
):
    """A confirmation code longer than our column (64) or carrying a NUL is
    an answer we cannot read: Shippo booked the pickup, so it is left unknown
    (202), never a 500 leaving it 'requested'."""
    from shipping.models import Pickup

    body = {**fx("pickup_confirmed.json"), "confirmation_code": code}
    mocked.post(PICKUPS_URL, status=201, json=body)
    shipment = _bought(account)

    answer = _book(_api(), [shipment.public_id], key="pk-long")

    assert (answer.status_code, Pickup.objects.get().status) == (202, "unknown")


def test_a_late_label_recorded_without_its_quote_can_still_be_picked_up(
    account, mocked
):
    """A failed buy's quote was bought again; Shippo's webhook then says the
    first label was made after all: it is recorded without the quote (the
    other label holds it). Staff void the other label; this one is shipped
    and must be collected."""
    from shipping import services
    from shipping.providers.base import Label, LabelFormat, LabelStatus, LabelUpdate

    late_tx = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    mocked.post(PICKUPS_URL, status=201, json=fx("pickup_confirmed.json"))
    rebought = _bought(account)
    late = Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="USPS",
        service_code="usps_priority",
        amount=790,
        currency="USD",
        idempotency_key="first-buy",
        status=ShipmentStatus.FAILED,
        carrier_shipment_id=late_tx,
    )
    Shipment.objects.filter(pk=late.pk).update(quote=rebought.quote)
    late.refresh_from_db()
    label = Label(
        status=LabelStatus.CREATED,
        carrier_shipment_id=late_tx,
        tracking_number="9205590164917312750000",
        label_data=b"%PDF-1.4",
        label_format=LabelFormat.PDF,
    )
    services.shipment_label_update_apply(
        shipment=late, update=LabelUpdate(late_tx, label=label)
    )
    late.refresh_from_db()
    assert late.status == ShipmentStatus.PURCHASED

    answer = _book(_api(), [late.public_id], key="pk-late")

    assert answer.status_code == 201, answer.json()
    body = body_of(sent(mocked, "POST", PICKUPS_URL)[0])
    assert body["carrier_account"] == CARRIER_ACCOUNT
    assert (late.quote_id, late.carrier_account) == (None, CARRIER_ACCOUNT)


def test_a_label_reopened_without_its_quote_can_still_be_picked_up(account, mocked):
    """A voided label's quote was bought again, then Shippo rejected the
    first label's refund: it is bought again without the quote (the second
    label holds it) and keeps the carrier account for its pickup."""
    from shipping import services
    from shipping.providers.base import LabelUpdate

    mocked.post(PICKUPS_URL, status=201, json=fx("pickup_confirmed.json"))
    first = _bought(account)
    Shipment.objects.filter(pk=first.pk).update(status=ShipmentStatus.VOIDED)
    Shipment.objects.create(
        account=account,
        quote=first.quote,
        from_address={},
        to_address={},
        parcels=[],
        carrier="USPS",
        service_code="usps_priority",
        amount=790,
        currency="USD",
        idempotency_key="bought-2",
        status=ShipmentStatus.PURCHASED,
        carrier_shipment_id="b" * 32,
    )
    first.refresh_from_db()
    services.shipment_void_rejected_apply(
        shipment=first, update=LabelUpdate(TRANSACTION, refund_rejected=True)
    )
    first.refresh_from_db()
    assert (first.status, first.quote_id) == (ShipmentStatus.PURCHASED, None)

    answer = _book(_api(), [first.public_id], key="pk-reopened")

    assert answer.status_code == 201, answer.json()
    body = body_of(sent(mocked, "POST", PICKUPS_URL)[0])
    assert body["carrier_account"] == CARRIER_ACCOUNT


def test_a_pickup_names_the_carrier_account_the_shipment_kept(account, mocked):
    """A label that keeps its own copy of the carrier account (bought since
    it was kept, or backfilled) is collected under it with no quote at all
    (a duplicate detached by migration 0009, a deleted quote)."""
    mocked.post(PICKUPS_URL, status=201, json=fx("pickup_confirmed.json"))
    shipment = _bought(account)
    Shipment.objects.filter(pk=shipment.pk).update(
        quote=None, carrier_account="kept" + CARRIER_ACCOUNT[4:]
    )

    answer = _book(_api(), [shipment.public_id], key="pk-kept")

    assert answer.status_code == 201, answer.json()
    body = body_of(sent(mocked, "POST", PICKUPS_URL)[0])
    assert body["carrier_account"] == "kept" + CARRIER_ACCOUNT[4:]
