"""The UPS adapter against ``responses`` fixtures built from UPS's OpenAPI
files and karrio's UPS samples (tests/fixtures/ups/README.md). Asserts what
is sent (endpoints, token, transaction headers, fields the published
examples have) as much as what comes back."""

import base64
import copy
from datetime import date, time
from decimal import Decimal

import pytest
import responses

from integrations.errors import ConfigurationError, NotProcessed, Rejected
from integrations.models import ProviderCall
from shipping.providers.base import (
    InvalidShippingRequest,
    LabelFormat,
    PickupCancellation,
    PickupRequest,
    VoidRequest,
)
from shipping.providers.tracking_types import TrackingStatus
from shipping.providers.ups import UPSAdapter
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import body_of, load, sent, unknown_fields

pytestmark = pytest.mark.django_db

BASE = "https://wwwcie.ups.com"
TOKEN_URL = f"{BASE}/security/v1/oauth/token"
RATES_URL = f"{BASE}/api/rating/v2409/Shop"
SHIP_URL = f"{BASE}/api/shipments/v2409/ship"
VOID_URL = f"{BASE}/api/shipments/v2409/void/cancel/1Z12345E8791315509"
NUMBER = "1Z1442YY7229014688"
TRACK_URL = f"{BASE}/api/track/v1/details/{NUMBER}"
PICKUP_URL = f"{BASE}/api/pickupcreation/v2409/pickup"
PICKUP_CANCEL_URL = f"{BASE}/api/shipments/v2409/pickup/02"
ADDRESS_URL = f"{BASE}/api/addressvalidation/v2/3"
CLIENT_ID = "ups-client-id"
SECRET = "ups-secret-do-not-log"


def fx(name: str) -> dict:
    return load("ups", name)


@pytest.fixture
def account():
    return ProviderAccountFactory(
        kind="shipping",
        provider="ups",
        slug="ups-main",
        settings={
            "account_number": "A1B2C3",
            "max_attempts": 1,
            "breaker_consecutive_failures": 50,
        },
        credentials={"client_id": CLIENT_ID, "client_secret": SECRET},
    )


@pytest.fixture
def adapter(account) -> UPSAdapter:
    return UPSAdapter(account)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(TOKEN_URL, json=fx("oauth_token.json"))
        yield rsps


# --- Token and headers ----------------------------------------------------------


def test_token_uses_basic_auth_once_and_every_call_carries_a_transaction(
    adapter, mocked
):
    mocked.post(RATES_URL, json=fx("rate_shop.json"))
    mocked.get(TRACK_URL, json=fx("track_response.json"))

    adapter.rates(shared.rate_request())
    adapter.track(shared.track_request(NUMBER))

    (token_call,) = sent(mocked, "POST", TOKEN_URL)
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert token_call.headers["Authorization"] == f"Basic {basic}"
    assert token_call.body == "grant_type=client_credentials"
    calls = sent(mocked, "POST", RATES_URL) + sent(mocked, "GET", TRACK_URL)
    assert {c.headers["Authorization"] for c in calls} == {"Bearer ups-test-token-1"}
    assert {c.headers["transactionSrc"] for c in calls} == {"switchyard"}
    trans_ids = [c.headers["transId"] for c in calls]
    assert len(set(trans_ids)) == 2 and all(len(t) == 32 for t in trans_ids)


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(adapter):
    with responses.RequestsMock() as rsps:
        rsps.post(TOKEN_URL, json=fx("oauth_token.json"))
        rsps.post(TOKEN_URL, json=fx("oauth_token_2.json"))
        rsps.post(RATES_URL, status=401, json=fx("error_unauthorized.json"))
        rsps.post(RATES_URL, json=fx("rate_shop.json"))

        assert adapter.rates(shared.rate_request())

        first, second = sent(rsps, "POST", RATES_URL)
    assert first.headers["Authorization"] == "Bearer ups-test-token-1"
    assert second.headers["Authorization"] == "Bearer ups-test-token-2"


def test_refused_again_after_the_refresh_is_not_processed(adapter, mocked):
    mocked.post(RATES_URL, status=401, json=fx("error_unauthorized.json"))

    with pytest.raises(NotProcessed) as caught:
        adapter.rates(shared.rate_request())

    assert (caught.value.code, caught.value.provider_code) == (
        "authentication_failed",
        "250002",
    )
    assert len(sent(mocked, "POST", TOKEN_URL)) == 2


def test_without_a_shipper_number_nothing_is_sent(account):
    account.settings = {}
    with responses.RequestsMock() as rsps, pytest.raises(ConfigurationError):
        UPSAdapter(account).rates(shared.rate_request())
    assert len(rsps.calls) == 0


# --- Rates ------------------------------------------------------------------------


def test_shop_request_uses_only_fields_of_the_published_request(adapter, mocked):
    mocked.post(RATES_URL, json=fx("rate_shop.json"))

    adapter.rates(shared.international_rate_request())

    body = body_of(sent(mocked, "POST", RATES_URL)[0])
    assert unknown_fields(body, fx("spec_rating_request.json")) == []
    shipment = body["RateRequest"]["Shipment"]
    assert body["RateRequest"]["Request"]["RequestOption"] == "Shop"
    assert shipment["Shipper"]["ShipperNumber"] == "A1B2C3"
    assert shipment["ShipmentRatingOptions"] == {"NegotiatedRatesIndicator": "Y"}
    assert shipment["Package"] == [
        {
            "PackagingType": {"Code": "02"},
            "PackageWeight": {"UnitOfMeasurement": {"Code": "LBS"}, "Weight": "2.5"},
            "Dimensions": {
                "UnitOfMeasurement": {"Code": "IN"},
                "Length": "12",
                "Width": "9",
                "Height": "4",
            },
        }
    ]
    assert shipment["InvoiceLineTotal"] == {
        "CurrencyCode": "USD",
        "MonetaryValue": "30.00",
    }


def test_negotiated_rates_are_preferred_when_present(adapter, mocked):
    mocked.post(RATES_URL, json=fx("rate_shop.json"))

    rates = {r.service_code: r for r in adapter.rates(shared.rate_request())}

    air = rates["01"]
    assert (air.amount, air.currency, air.extra["price"]) == (2566, "CAD", "negotiated")
    assert air.service_name == "UPS Next Day Air"
    assert air.transit_days == 1
    assert set(rates) == {"01", "13", "02", "11"}


def test_published_rates_when_the_account_has_no_negotiated_ones(adapter, mocked):
    mocked.post(RATES_URL, json=fx("rate_shop_published_only.json"))

    rates = {r.service_code: r for r in adapter.rates(shared.rate_request())}

    assert (rates["01"].amount, rates["01"].extra["price"]) == (8197, "published")


def test_a_ups_validation_error_is_rejected_with_its_reason(adapter, mocked):
    mocked.post(RATES_URL, status=400, json=fx("error_validation.json"))

    with pytest.raises(Rejected) as caught:
        adapter.rates(shared.rate_request())

    assert caught.value.provider_code == "120206"
    assert "StateProvinceCode" in caught.value.message


# --- Labels -----------------------------------------------------------------------


def test_label_is_bought_as_png_and_decoded(adapter, mocked):
    mocked.post(SHIP_URL, json=fx("ship_response.json"))

    label = adapter.create_label(
        shared.label_request("03", label_format=LabelFormat.PNG)
    )

    assert label.carrier_shipment_id == label.tracking_number == "1Z12345E8791315509"
    assert label.label_data.startswith(b"\x89PNG")
    assert (label.amount, label.currency) == (2137, "USD")  # negotiated
    body = body_of(sent(mocked, "POST", SHIP_URL)[0])
    assert unknown_fields(body, fx("spec_shipping_request.json")) == []
    request = body["ShipmentRequest"]
    assert request["LabelSpecification"]["LabelImageFormat"] == {"Code": "PNG"}
    assert request["Shipment"]["Service"] == {"Code": "03"}
    assert request["Shipment"]["PaymentInformation"]["ShipmentCharge"] == {
        "Type": "01",
        "BillShipper": {"AccountNumber": "A1B2C3"},
    }


def test_each_package_of_a_shipment_keeps_its_own_label(adapter, mocked):
    # ShipmentResults.PackageResults is an array, one entry per package.
    answer = copy.deepcopy(fx("ship_response.json"))
    results = answer["ShipmentResponse"]["ShipmentResults"]
    second = copy.deepcopy(results["PackageResults"][0])
    second["TrackingNumber"] = "1Z12345E8791315510"
    # A whole PNG of its own (signature ... IEND): a garbled one is refused.
    second["ShippingLabel"]["GraphicImage"] = base64.b64encode(PNG_TWO).decode()
    results["PackageResults"].append(second)
    mocked.post(SHIP_URL, json=answer)

    label = adapter.create_label(
        shared.label_request(
            "03", parcels=(shared.PARCEL, shared.PARCEL), label_format=LabelFormat.PNG
        )
    )

    assert label.tracking_number == "1Z12345E8791315509"
    assert [p.tracking_number for p in label.parcel_labels] == [
        "1Z12345E8791315509",
        "1Z12345E8791315510",
    ]
    assert label.parcel_labels[0].label_data == label.label_data
    assert label.parcel_labels[1].label_data == PNG_TWO


PNG_TWO = b"\x89PNG\r\n\x1a\n two \x00\x00\x00\x00IEND\xaeB`\x82"


def test_international_label_carries_the_commercial_invoice(adapter, mocked):
    # Asked as ZPL: answered with a ZPL file (a PNG would be a garbled one).
    answer = copy.deepcopy(fx("ship_response.json"))
    package = answer["ShipmentResponse"]["ShipmentResults"]["PackageResults"][0]
    package["ShippingLabel"]["GraphicImage"] = base64.b64encode(b"^XA^XZ").decode()
    mocked.post(SHIP_URL, json=answer)

    adapter.create_label(
        shared.label_request(
            "65",
            to_address=shared.ABROAD,
            customs=shared.CUSTOMS,
            label_format=LabelFormat.ZPL,
        )
    )

    body = body_of(sent(mocked, "POST", SHIP_URL)[0])
    assert unknown_fields(body, fx("spec_shipping_request.json")) == []
    forms = body["ShipmentRequest"]["Shipment"]["ShipmentServiceOptions"][
        "InternationalForms"
    ]
    assert forms["Product"] == [
        {
            "Description": "Cotton T-shirt",
            "Unit": {
                "Number": "2",
                "Value": "15.00",
                "UnitOfMeasurement": {"Code": "PCS"},
            },
            "CommodityCode": "610910",
            "OriginCountryCode": "US",
        }
    ]
    label_spec = body["ShipmentRequest"]["LabelSpecification"]
    assert label_spec["LabelImageFormat"] == {"Code": "ZPL"}


def test_pdf_labels_are_refused_before_any_call(adapter):
    with responses.RequestsMock() as rsps, pytest.raises(InvalidShippingRequest) as e:
        adapter.create_label(shared.label_request("03"))
    assert e.value.param == "label_format"
    assert len(rsps.calls) == 0


def test_void(adapter, mocked):
    mocked.delete(VOID_URL, json=fx("void_response.json"))
    request = VoidRequest(
        carrier_shipment_id="1Z12345E8791315509",
        tracking_number="1Z12345E8791315509",
        idempotency_key="void-1",
    )

    assert adapter.void_label(request).voided


def test_void_refused_is_a_result_with_the_ups_reason(adapter, mocked):
    mocked.delete(VOID_URL, status=400, json=fx("error_void_in_transit.json"))
    request = VoidRequest(
        carrier_shipment_id="1Z12345E8791315509",
        tracking_number="1Z12345E8791315509",
        idempotency_key="void-1",
    )

    result = adapter.void_label(request)

    assert not result.voided and "picked up" in result.detail


def test_a_void_resent_after_a_dead_claim_settles_on_already_voided(account, mocked):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import Event
    from shipping import services
    from shipping.models import Shipment, ShipmentStatus
    from tests.shipping.ups_answers import ups_shipment

    # Shipping.yaml, SummaryResult.Status.Code: "1 = Voided or Already Voided".
    answer = copy.deepcopy(fx("void_response.json"))
    answer["VoidShipmentResponse"]["SummaryResult"]["Status"]["Description"] = (
        "Already Voided"
    )
    mocked.delete(VOID_URL, json=answer)
    shipment = ups_shipment(
        account,
        "ups-void-resend",
        tracking_status="pre_transit",
        tracking_number="1Z12345E8791315509",
        carrier_shipment_id="1Z12345E8791315509",
        # The first void's process died after UPS voided the label.
        void_started_at=timezone.now() - timedelta(minutes=11),
    )

    services.shipment_void(shipment=shipment)

    stored = Shipment.objects.get(pk=shipment.pk)
    assert (stored.status, stored.void_started_at) == (ShipmentStatus.VOIDED, None)
    assert Event.objects.filter(name="shipment.voided").count() == 1


# --- Tracking ---------------------------------------------------------------------


def test_tracking_activities_oldest_first(adapter, mocked):
    mocked.get(TRACK_URL, json=fx("track_response.json"))

    info = adapter.track(shared.track_request(NUMBER))

    assert [e.status for e in info.events] == [
        TrackingStatus.PRE_TRANSIT,
        TrackingStatus.DELIVERED,
    ]
    assert info.status is TrackingStatus.DELIVERED
    assert info.events[1].location == "PARAMUS, NJ, US"
    assert info.events[1].occurred_at.isoformat() == "2022-01-26T16:30:00+00:00"
    (call,) = sent(mocked, "GET", TRACK_URL)
    assert "locale=en_US" in call.url


def test_a_200_with_a_not_found_warning_is_not_found(adapter, mocked):
    number = "1Z12345E8791315509"
    mocked.get(f"{BASE}/api/track/v1/details/{number}", json=fx("track_not_found.json"))

    with pytest.raises(Rejected) as caught:
        adapter.track(shared.track_request(number))

    assert (caught.value.code, caught.value.provider_code) == ("not_found", "TW0001")
    assert ProviderCall.objects.get(operation="ups_track").outcome == "rejected"


def test_a_404_is_not_found_too(adapter, mocked):
    mocked.get(TRACK_URL, status=404, json=fx("error_response.json"))

    with pytest.raises(Rejected) as caught:
        adapter.track(shared.track_request(NUMBER))

    assert caught.value.code == "not_found"


# --- Pickups and addresses --------------------------------------------------------


def test_pickup_is_booked_and_cancelled_by_prn(adapter, mocked):
    mocked.post(PICKUP_URL, json=fx("pickup_response.json"))
    mocked.delete(PICKUP_CANCEL_URL, json=fx("pickup_cancel_response.json"))

    pickup = adapter.schedule_pickup(
        PickupRequest(
            address=shared.SHIPPER,
            pickup_date=date(2026, 12, 7),
            ready_time=time(9, 30),
            close_time=time(17, 0),
            parcel_count=2,
            total_weight=Decimal("2.5"),
            weight_unit="kg",
            idempotency_key="pickup-1",
        )
    )
    adapter.cancel_pickup(
        PickupCancellation(
            confirmation_number=pickup.confirmation_number,
            pickup_date=pickup.pickup_date,
            address=shared.SHIPPER,
        )
    )

    assert pickup.confirmation_number == "2929602E9CP"
    booked = body_of(sent(mocked, "POST", PICKUP_URL)[0])
    assert unknown_fields(booked, fx("spec_pickup_request.json")) == []
    info = booked["PickupCreationRequest"]["PickupDateInfo"]
    assert info == {"CloseTime": "1700", "ReadyTime": "0930", "PickupDate": "20261207"}
    weight = booked["PickupCreationRequest"]["TotalWeight"]
    assert weight == {"Weight": "5.6", "UnitOfMeasurement": "LBS"}
    (cancel,) = sent(mocked, "DELETE", PICKUP_CANCEL_URL)
    assert cancel.headers["Prn"] == "2929602E9CP"


def test_address_validation(adapter, mocked):
    mocked.post(ADDRESS_URL, json=fx("address_valid.json"))

    result = adapter.validate_address(shared.RECIPIENT)

    assert result.valid and result.residential is True
    assert result.address.postal_code == "62704-1234"
    assert result.address.street_lines == ("742 EVERGREEN TER",)
    body = body_of(sent(mocked, "POST", ADDRESS_URL)[0])
    assert unknown_fields(body, fx("spec_address_request.json")) == []


def test_a_ups_cancel_whose_answer_was_lost_is_in_doubt_on_the_retry(account, mocked):
    from requests.exceptions import ReadTimeout

    from shipping import services
    from shipping.models import PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    # The adapter marks its DELETE as sent (cancel_going_out): the retry's
    # refusal cannot tell ours landing from a pickup done.
    pickup = scheduled_pickup(account, "2929602E9CP")
    mocked.delete(PICKUP_CANCEL_URL, body=ReadTimeout("answer lost"))
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)
    pickup.refresh_from_db()
    assert pickup.cancel_requested_at is not None
    mocked.replace(
        responses.DELETE, PICKUP_CANCEL_URL, status=400, json=fx("error_response.json")
    )

    with pytest.raises(ShippingError) as answer:
        services.pickup_cancel(pickup=pickup)

    assert answer.value.code == "cancel_in_doubt"
    pickup.refresh_from_db()
    assert pickup.status == PickupStatus.UNKNOWN
