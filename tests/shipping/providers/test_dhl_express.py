"""The DHL Express (MyDHL API) adapter against ``responses`` fixtures built
from karrio's MyDHL samples (tests/fixtures/dhl_express/README.md)."""

import base64
import copy
from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
import responses

from integrations.errors import ConfigurationError, NotProcessed, Rejected
from integrations.models import ProviderCall
from shipping.providers.base import (
    LabelFormat,
    PickupCancellation,
    PickupRequest,
    VoidRequest,
)
from shipping.providers.dhl_express import DHLExpressAdapter
from shipping.providers.tracking_types import TrackingStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import (
    body_of,
    exact_body,
    load,
    sent,
    unknown_fields,
)

pytestmark = pytest.mark.django_db

BASE = "https://express.api.dhl.com/mydhlapi/test"
KEY, SECRET = "dhl-user", "dhl-pass-do-not-log"


def fx(name: str) -> dict:
    return load("dhl_express", name)


@pytest.fixture
def account():
    return ProviderAccountFactory(
        kind="shipping",
        provider="dhl_express",
        settings={"account_number": "950000002", "max_attempts": 1},
        credentials={"api_key": KEY, "api_secret": SECRET},
    )


@pytest.fixture
def adapter(account) -> DHLExpressAdapter:
    return DHLExpressAdapter(account)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_rates_send_basic_auth_version_and_message_reference(adapter, mocked):
    mocked.post(f"{BASE}/rates", json=fx("rate_response.json"))

    (rate,) = adapter.rates(shared.international_rate_request())

    assert (rate.service_code, rate.amount, rate.currency) == ("P", 8925, "EUR")
    assert rate.service_name == "Express Worldwide"
    assert (rate.transit_days, rate.estimated_delivery) == (4, date(2024, 11, 7))
    (call,) = sent(mocked, "POST", f"{BASE}/rates")
    basic = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert call.headers["Authorization"] == f"Basic {basic}"
    assert call.headers["x-version"] == "3.1.1"
    assert len(call.headers["Message-Reference"]) == 36
    body = body_of(call)
    assert unknown_fields(body, fx("spec_rate_request.json")) == []
    assert body["packages"] == [
        {"weight": 1.134, "dimensions": {"length": 31, "width": 23, "height": 11}}
    ]
    assert body["isCustomsDeclarable"] is True
    assert body["monetaryAmount"] == [
        {"typeCode": "declaredValue", "value": 30, "currency": "USD"}
    ]


def test_refused_credentials_are_not_processed_without_a_retry(adapter, mocked):
    mocked.post(f"{BASE}/rates", status=401, json=fx("error_unauthorized.json"))

    with pytest.raises(NotProcessed) as caught:
        adapter.rates(shared.rate_request())

    assert caught.value.code == "authentication_failed"
    assert len(sent(mocked, "POST", f"{BASE}/rates")) == 1


def test_dhl_problem_detail_is_the_reason(adapter, mocked):
    mocked.post(f"{BASE}/rates", status=400, json=fx("error_response.json"))

    with pytest.raises(Rejected) as caught:
        adapter.rates(shared.rate_request())

    assert "account number is not found" in caught.value.message


def test_missing_account_number_sends_nothing(account):
    account.settings = {}
    with responses.RequestsMock() as rsps, pytest.raises(ConfigurationError):
        DHLExpressAdapter(account).rates(shared.rate_request())
    assert len(rsps.calls) == 0


def test_dutiable_label_with_its_export_declaration(adapter, mocked):
    mocked.post(f"{BASE}/shipments", status=201, json=fx("shipment_response.json"))

    label = adapter.create_label(
        shared.label_request("P", to_address=shared.ABROAD, customs=shared.CUSTOMS)
    )

    assert label.tracking_number == label.carrier_shipment_id == "1234567890"
    assert label.parcel_tracking_numbers == ("JD014600001234567890",)
    assert label.label_data.startswith(b"%PDF")
    assert (label.amount, label.currency) == (14750, "USD")
    body = body_of(sent(mocked, "POST", f"{BASE}/shipments")[0])
    assert unknown_fields(body, fx("spec_shipment_request.json")) == []
    content = body["content"]
    assert content["isCustomsDeclarable"] is True
    assert (content["declaredValue"], content["declaredValueCurrency"]) == (30, "USD")
    (line,) = content["exportDeclaration"]["lineItems"]
    assert line["quantity"] == {"value": 2, "unitOfMeasurement": "PCS"}
    assert line["commodityCodes"] == [{"typeCode": "outbound", "value": "610910"}]
    assert body["outputImageProperties"]["encodingFormat"] == "pdf"


def test_declared_values_go_out_as_exact_json_numbers(adapter, mocked):
    # 19.99 as a float is 19.989999...; the body must carry the digits sent.
    mocked.post(f"{BASE}/shipments", status=201, json=fx("shipment_response.json"))
    item = replace(shared.CUSTOMS.items[0], quantity=1, value=1999)
    customs = replace(shared.CUSTOMS, items=(item,))

    adapter.create_label(
        shared.label_request("P", to_address=shared.ABROAD, customs=customs)
    )

    (call,) = sent(mocked, "POST", f"{BASE}/shipments")
    assert call.headers["Content-Type"] == "application/json"
    assert b'"declaredValue": 19.99, "declaredValueCurrency": "USD"' in call.body
    assert b'"price": 19.99' in call.body
    content = exact_body(call)["content"]
    assert content["declaredValue"] == Decimal("19.99")
    (line,) = content["exportDeclaration"]["lineItems"]
    assert line["weight"] == {
        "netValue": Decimal("0.3"),
        "grossValue": Decimal("0.3"),
    }


def test_domestic_label_declares_no_customs_and_zpl_is_asked_for(adapter, mocked):
    answer = fx("shipment_response.json")
    answer["documents"][0]["content"] = base64.b64encode(b"^XA^XZ").decode()
    mocked.post(f"{BASE}/shipments", status=201, json=answer)

    label = adapter.create_label(
        shared.label_request("N", label_format=LabelFormat.ZPL)
    )

    body = body_of(sent(mocked, "POST", f"{BASE}/shipments")[0])
    assert body["content"]["isCustomsDeclarable"] is False
    assert "exportDeclaration" not in body["content"]
    assert body["outputImageProperties"]["encodingFormat"] == "zpl"
    assert label.label_data == b"^XA^XZ"


def test_void_calls_nobody_and_is_not_supported(adapter, mocked):
    # MyDHL has no call to cancel a shipment: the label is never "voided".
    assert not adapter.supports("void_label")
    with pytest.raises(Rejected) as refused:
        adapter.void_label(
            VoidRequest(
                carrier_shipment_id="1234567890",
                tracking_number="1234567890",
                idempotency_key="v",
            )
        )
    assert refused.value.code == "not_supported"
    assert not mocked.calls


def test_tracking_checkpoints_oldest_first_with_offsets(adapter, mocked):
    mocked.get(f"{BASE}/tracking", json=fx("tracking_response.json"))

    info = adapter.track(shared.track_request("1234567890"))

    assert [e.carrier_status_code for e in info.events] == ["PU", "PL", "OK"]
    assert info.events[0].occurred_at == datetime(2024, 11, 5, 9, 0, tzinfo=UTC)
    assert info.status is TrackingStatus.DELIVERED
    assert info.signed_by == "J. Smith"
    assert info.events[0].location == "Prague"
    (call,) = sent(mocked, "GET", f"{BASE}/tracking")
    assert "shipmentTrackingNumber=1234567890" in call.url


def _tracked(*checkpoints: tuple[str, str, str]) -> dict:
    """The fixture's tracking answer with these (typeCode, description, ISO
    time) checkpoints, newest first as DHL lists them, and no shipment-level
    status (so the checkpoints alone say where the parcel is)."""
    answer = copy.deepcopy(fx("tracking_response.json"))
    shipment = answer["shipments"][0]
    template = shipment["events"][-1]
    shipment.pop("status", None)
    shipment["events"] = [
        {
            **template,
            "date": at[:10],
            "time": at[11:19],
            "GMTOffset": "+00:00",
            "typeCode": code,
            "description": text,
        }
        for code, text, at in reversed(checkpoints)
    ]
    return answer


def _dhl_shipment(account, number: str):
    from shipping.models import Shipment, ShipmentStatus

    return Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="DHL Express",
        service_code="P",
        amount=8925,
        currency="EUR",
        idempotency_key=f"dhl-{number}",
        status=ShipmentStatus.PURCHASED,
        tracking_number=number,
        carrier_shipment_id=number,
    )


def test_a_refused_delivery_is_an_exception_not_a_return(account, mocked):
    # DHL Express checkpoint RD is "Refused delivery": the receiver refused
    # it; the parcel is not back with the shipper (that is RT).
    from shipping import services

    picked_up = ("PU", "Shipment picked up", "2024-11-05T09:00:00")
    refused = ("RD", "Refused delivery", "2024-11-07T11:00:00")
    delivered = ("OK", "Delivered", "2024-11-08T10:00:00")
    mocked.get(f"{BASE}/tracking", json=_tracked(picked_up, refused))
    shipment = _dhl_shipment(account, "1234567891")

    services.shipment_tracking_refresh(shipment=shipment)

    assert shipment.tracking_status == "exception"
    # Not final: a second attempt the receiver accepts is still followed.
    mocked.replace(
        responses.GET, f"{BASE}/tracking", json=_tracked(picked_up, refused, delivered)
    )
    services.shipment_tracking_refresh(shipment=shipment)
    assert shipment.tracking_status == "delivered"


def test_returned_to_consignor_is_still_returned(account, mocked):
    from shipping import services

    mocked.get(
        f"{BASE}/tracking",
        json=_tracked(
            ("PU", "Shipment picked up", "2024-11-05T09:00:00"),
            ("RD", "Refused delivery", "2024-11-07T11:00:00"),
            ("RT", "Returned to consignor", "2024-11-12T15:00:00"),
        ),
    )
    shipment = _dhl_shipment(account, "1234567892")

    services.shipment_tracking_refresh(shipment=shipment)

    assert shipment.tracking_status == "returned"


def test_unknown_number_is_not_found(adapter, mocked):
    mocked.get(f"{BASE}/tracking", status=404, json=fx("error_not_found.json"))

    with pytest.raises(Rejected) as caught:
        adapter.track(shared.track_request("9999999999"))

    assert caught.value.code == "not_found"


def test_pickup_booked_and_cancelled(adapter, mocked):
    mocked.post(f"{BASE}/pickups", status=201, json=fx("pickup_create_response.json"))
    cancel_url = f"{BASE}/pickups/PRG201220123456"
    mocked.delete(cancel_url, json=fx("pickup_cancel_response.json"))

    pickup = adapter.schedule_pickup(
        PickupRequest(
            address=shared.SHIPPER,
            pickup_date=date(2024, 11, 6),
            ready_time=time(10, 0),
            close_time=time(18, 0),
            parcel_count=2,
            total_weight=Decimal("4"),
            idempotency_key="p-1",
        )
    )
    adapter.cancel_pickup(
        PickupCancellation(
            confirmation_number=pickup.confirmation_number,
            pickup_date=pickup.pickup_date,
            address=shared.SHIPPER,
        )
    )

    assert pickup.confirmation_number == "PRG201220123456"
    body = body_of(sent(mocked, "POST", f"{BASE}/pickups")[0])
    assert unknown_fields(body, fx("spec_pickup_create_request.json")) == []
    assert body["plannedPickupDateAndTime"] == "2024-11-06T10:00:00 GMT+00:00"
    assert body["shipmentDetails"][0]["packages"] == [{"weight": 2.0}] * 2
    (cancel,) = sent(mocked, "DELETE", cancel_url)
    assert "reason=001" in cancel.url


def test_address_validation(adapter, mocked):
    mocked.get(f"{BASE}/address-validate", json=fx("address_validation_response.json"))

    result = adapter.validate_address(shared.RECIPIENT)

    assert result.valid
    assert result.address.city == "NEW YORK"
    assert result.messages == ("Address has been corrected",)


# --- A pickup cancel retried after a lost answer ---------------------------------

CANCEL_PICKUP_URL = f"{BASE}/pickups/PRG201220123456"
# DHL's DELETE /pickups/{number}: 400 "Pickup already cancelled or completed",
# 404 "Pickup not found" (the MyDHL API's documented answers).
ALREADY_CANCELLED = {
    "instance": "/expressapi/pickups/PRG201220123456",
    "detail": "Pickup PRG201220123456 has already been cancelled",
    "title": "Bad request",
    "message": "Bad request",
    "status": 400,
}


def _cancel_lost_then(account, mocked, **answer):
    from requests.exceptions import ReadTimeout as Lost

    from shipping import services
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    pickup = scheduled_pickup(account, "PRG201220123456")
    mocked.delete(CANCEL_PICKUP_URL, body=Lost("answer lost"))
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)
    mocked.replace(responses.DELETE, CANCEL_PICKUP_URL, **answer)
    return services.pickup_cancel(pickup=pickup)


def test_a_retried_pickup_cancel_dhl_calls_cancelled_ends_cancelled(account, mocked):
    from shipping.models import Pickup, PickupStatus

    pickup = _cancel_lost_then(account, mocked, status=400, json=ALREADY_CANCELLED)

    assert pickup.status == PickupStatus.CANCELLED
    assert Pickup.objects.get().status == PickupStatus.CANCELLED
    keys = set(
        ProviderCall.objects.filter(operation="dhl_express_cancel_pickup").values_list(
            "idempotency_key", flat=True
        )
    )
    assert keys == {f"{pickup.public_id}-cancel"}  # one key for the cancellation


def test_a_first_pickup_cancel_dhl_cannot_find_is_a_failure(account, mocked):
    from shipping import services
    from shipping.models import PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    pickup = scheduled_pickup(account, "PRG201220123456")
    mocked.delete(CANCEL_PICKUP_URL, status=404, json=fx("error_not_found.json"))

    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)

    pickup.refresh_from_db()
    assert pickup.status == PickupStatus.SCHEDULED


def test_a_wrong_number_cancel_clicked_again_stays_scheduled(account, mocked):
    from shipping import services
    from shipping.models import Pickup, PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    # The first "not found" is a definite answer (a wrong number): the same
    # answer to a second click is no evidence that any cancel landed.
    pickup = scheduled_pickup(account, "PRG201220123456")
    mocked.delete(CANCEL_PICKUP_URL, status=404, json=fx("error_not_found.json"))
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)
    pickup.refresh_from_db()

    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)

    assert Pickup.objects.get().status == PickupStatus.SCHEDULED


def test_a_refused_cancel_then_not_found_stays_scheduled(account, mocked):
    from shipping import services
    from shipping.models import Pickup, PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    # DHL refused the first cancel outright (the courier is on the way):
    # nothing was cancelled, so a later "not found" (the pickup done and
    # archived) is not our cancel landing.
    pickup = scheduled_pickup(account, "PRG201220123456")
    refused = {
        "detail": "Pickup cannot be cancelled, courier dispatched",
        "title": "Bad request",
        "status": 400,
    }
    mocked.delete(CANCEL_PICKUP_URL, status=400, json=refused)
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)
    mocked.replace(
        responses.DELETE,
        CANCEL_PICKUP_URL,
        status=404,
        json=fx("error_not_found.json"),
    )
    pickup.refresh_from_db()

    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)

    assert Pickup.objects.get().status == PickupStatus.SCHEDULED


def test_dhls_cancelled_or_completed_answer_is_a_refusal_not_cancelled(account, mocked):
    from shipping import services
    from shipping.models import Pickup, PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    # DHL's documented 400 "Pickup already cancelled or completed" cannot
    # tell the two apart: a completed pickup must not end cancelled.
    pickup = scheduled_pickup(account, "PRG201220123456")
    answer = {
        "detail": "Pickup already cancelled or completed",
        "title": "Bad request",
        "status": 400,
    }
    mocked.delete(CANCEL_PICKUP_URL, status=400, json=answer)

    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)

    assert Pickup.objects.get().status == PickupStatus.SCHEDULED


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"status": 404, "json": {**ALREADY_CANCELLED, "status": 404}}, "been"),
        (
            {
                "status": 400,
                "json": {
                    **ALREADY_CANCELLED,
                    "detail": "Pickup already cancelled or completed",
                },
            },
            "or completed",
        ),
    ],
)
def test_a_retried_cancel_dhl_cannot_settle_is_left_to_staff(
    account, mocked, answer, said
):
    from shipping.models import Pickup, PickupStatus
    from shipping.services.errors import ShippingError

    # Our first cancel may have landed: "not found", or "cancelled or
    # completed", is ours landing or the courier having come.
    with pytest.raises(ShippingError) as refused:
        _cancel_lost_then(account, mocked, **answer)

    assert refused.value.code == "cancel_in_doubt"
    pickup = Pickup.objects.get()
    assert pickup.status == PickupStatus.UNKNOWN
    assert said in pickup.failure_message  # the carrier's answer, for staff


def test_staff_settle_a_cancel_in_doubt_as_still_booked_or_cancelled(account, mocked):
    from requests.exceptions import ReadTimeout

    from integrations.events import Event
    from shipping import services
    from shipping.models import Pickup, PickupStatus
    from shipping.services.errors import ShippingError

    gone = {"status": 404, "json": {**ALREADY_CANCELLED, "status": 404}}
    with pytest.raises(ShippingError):
        _cancel_lost_then(account, mocked, **gone)
    pickup = Pickup.objects.get()
    events = Event.objects.count()

    # DHL's desk says the pickup is still booked: scheduled again, and a new
    # cancel is a first try (its "not found" proves nothing).
    settled = services.pickup_resolve(
        pickup=pickup, confirmation_number="PRG201220123456"
    )
    assert settled.status == PickupStatus.SCHEDULED
    assert (settled.cancel_requested_at, settled.failure_message) == (None, "")
    assert Event.objects.count() == events  # announced scheduled already
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=settled)
    assert Pickup.objects.get().status == PickupStatus.SCHEDULED

    # A cancel in doubt again, and DHL's desk confirms it cancelled.
    mocked.replace(responses.DELETE, CANCEL_PICKUP_URL, body=ReadTimeout("lost"))
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=Pickup.objects.get())
    mocked.replace(responses.DELETE, CANCEL_PICKUP_URL, **gone)
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=Pickup.objects.get())
    settled = services.pickup_resolve(pickup=Pickup.objects.get())
    assert settled.status == PickupStatus.CANCELLED


def test_a_double_clicked_wrong_number_cancel_is_not_marked_cancelled(account):
    import json

    from shipping import services
    from shipping.models import Pickup, PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    # The second request is loaded while the first's call is in flight; DHL
    # answers both "not found" (a wrong number: a definite answer).
    pickup = scheduled_pickup(account, "PRG201220123456")
    second: dict = {}

    def first_call(request):
        second["pickup"] = Pickup.objects.get(pk=pickup.pk)
        return (404, {}, json.dumps(fx("error_not_found.json")))

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.DELETE, CANCEL_PICKUP_URL, callback=first_call)
        with pytest.raises(ShippingError):
            services.pickup_cancel(pickup=pickup)
        rsps.replace(
            responses.DELETE,
            CANCEL_PICKUP_URL,
            status=404,
            json=fx("error_not_found.json"),
        )
        with pytest.raises(ShippingError):
            services.pickup_cancel(pickup=second["pickup"])

    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.SCHEDULED


def test_a_second_cancel_while_one_is_at_dhl_is_refused(account):
    from shipping import services
    from shipping.models import Pickup, PickupStatus
    from shipping.services.errors import InvalidState
    from tests.shipping.helpers import scheduled_pickup

    pickup = scheduled_pickup(account, "PRG201220123456")
    refused: list = []

    def first_call(request):
        try:  # the admin's action while the API's cancel waits on DHL
            services.pickup_cancel(pickup=Pickup.objects.get(pk=pickup.pk))
        except InvalidState as error:
            refused.append(error)
        return (200, {}, "")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.DELETE, CANCEL_PICKUP_URL, callback=first_call)
        services.pickup_cancel(pickup=pickup)
        assert len(sent(rsps, "DELETE", CANCEL_PICKUP_URL)) == 1

    (error,) = refused
    assert (error.code, error.status_code) == ("cancel_in_progress", 409)
    pickup = Pickup.objects.get()
    assert (pickup.status, pickup.cancel_started_at) == (PickupStatus.CANCELLED, None)


def test_a_cancel_never_sent_then_not_found_stays_scheduled(account, mocked):
    from requests.exceptions import ConnectTimeout

    from shipping import services
    from shipping.models import Pickup, PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    # DHL never got the first try (no connection): no cancel of ours is in
    # doubt, so the "not found" of the next is a wrong number, not ours.
    pickup = scheduled_pickup(account, "PRG201220123456")
    mocked.delete(CANCEL_PICKUP_URL, body=ConnectTimeout("no connection"))
    with pytest.raises(ShippingError) as first:
        services.pickup_cancel(pickup=pickup)
    assert first.value.code == "carrier_not_processed"
    mocked.replace(
        responses.DELETE,
        CANCEL_PICKUP_URL,
        status=404,
        json=fx("error_not_found.json"),
    )
    pickup.refresh_from_db()

    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)

    assert Pickup.objects.get().status == PickupStatus.SCHEDULED


def test_a_checkpoint_past_year_9999_in_utc_is_skipped_not_stored(account, mocked):
    # 9999-12-31 23:59 at GMT-12 is year 10000 in UTC: stored, the database
    # driver could never read the shipment's scans back.
    from shipping import services

    answer = _tracked(
        ("PU", "Shipment picked up", "2024-11-05T09:00:00"),
        ("PL", "Processed", "9999-12-31T23:59:00"),
    )
    answer["shipments"][0]["events"][0]["GMTOffset"] = "-12:00"
    mocked.get(f"{BASE}/tracking", json=answer)
    shipment = _dhl_shipment(account, "1234567892")

    services.shipment_tracking_refresh(shipment=shipment)

    shipment.refresh_from_db()
    codes = [e.carrier_status_code for e in shipment.tracking_events.all()]
    assert codes == ["PU"]
