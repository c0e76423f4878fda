"""The FedEx adapter against ``responses`` fixtures built from karrio's FedEx
samples (tests/fixtures/fedex/README.md). Asserts what is sent (endpoints,
token, fields the samples have) as much as what comes back."""

import base64
import copy
from datetime import date, time
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import responses

from integrations.errors import ConfigurationError, NotProcessed, Rejected, Unknown
from integrations.models import ProviderCall
from shipping.providers.base import (
    LabelFormat,
    PickupCancellation,
    PickupRequest,
    VoidRequest,
)
from shipping.providers.fedex import FedExAdapter, pick_rated_variant
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

BASE = "https://apis-sandbox.fedex.com"
TOKEN_URL = f"{BASE}/oauth/token"
RATES_URL = f"{BASE}/rate/v1/rates/quotes"
SHIP_URL = f"{BASE}/ship/v1/shipments"
CANCEL_URL = f"{BASE}/ship/v1/shipments/cancel"
TRACK_URL = f"{BASE}/track/v1/trackingnumbers"
PICKUP_URL = f"{BASE}/pickup/v1/pickups"
ADDRESS_URL = f"{BASE}/address/v1/addresses/resolve"
KEY = "l7-fedex-api-key"
SECRET = "fedex-secret-do-not-log"


def fx(name: str) -> dict:
    return load("fedex", name)


@pytest.fixture
def account():
    return ProviderAccountFactory(
        kind="shipping",
        provider="fedex",
        slug="fedex-main",
        settings={
            "account_number": "740561073",
            "max_attempts": 1,
            "breaker_consecutive_failures": 50,
        },
        credentials={"client_id": KEY, "client_secret": SECRET},
    )


@pytest.fixture
def adapter(account) -> FedExAdapter:
    return FedExAdapter(account)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(TOKEN_URL, json=fx("oauth_token.json"))
        yield rsps


# --- Token ------------------------------------------------------------------------


def test_token_is_fetched_once_with_the_form_credentials_and_reused(adapter, mocked):
    mocked.post(RATES_URL, json=fx("rate_quotes.json"))
    mocked.post(TRACK_URL, json=fx("track_response.json"))

    adapter.rates(shared.international_rate_request())
    adapter.track(shared.track_request("128667043726"))

    (token_call,) = sent(mocked, "POST", TOKEN_URL)
    form = parse_qs(token_call.body)
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": [KEY],
        "client_secret": [SECRET],
    }
    calls = sent(mocked, "POST", RATES_URL) + sent(mocked, "POST", TRACK_URL)
    assert [c.headers["Authorization"] for c in calls] == [
        "Bearer fedex-test-token-1"
    ] * 2


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(adapter):
    with responses.RequestsMock() as rsps:
        rsps.post(TOKEN_URL, json=fx("oauth_token.json"))
        rsps.post(TOKEN_URL, json=fx("oauth_token_2.json"))
        rsps.post(RATES_URL, status=401, json=fx("error_unauthorized.json"))
        rsps.post(RATES_URL, json=fx("rate_quotes.json"))

        rates = adapter.rates(shared.international_rate_request())

        first, second = sent(rsps, "POST", RATES_URL)
    assert rates
    assert first.headers["Authorization"] == "Bearer fedex-test-token-1"
    assert second.headers["Authorization"] == "Bearer fedex-test-token-2"


def test_a_second_401_is_not_processed(adapter, mocked):
    mocked.post(RATES_URL, status=401, json=fx("error_unauthorized.json"))

    with pytest.raises(NotProcessed) as caught:
        adapter.rates(shared.international_rate_request())

    assert caught.value.code == "authentication_failed"
    assert caught.value.provider_code == "NOT.AUTHORIZED.ERROR"
    assert len(sent(mocked, "POST", TOKEN_URL)) == 2
    assert len(sent(mocked, "POST", RATES_URL)) == 2


def test_missing_credentials_or_account_number_send_nothing(account):
    account.set_credentials({"client_id": KEY})
    with responses.RequestsMock() as rsps, pytest.raises(ConfigurationError):
        FedExAdapter(account).rates(shared.rate_request())
    assert len(rsps.calls) == 0
    account.set_credentials({"client_id": KEY, "client_secret": SECRET})
    account.settings = {}
    with responses.RequestsMock() as rsps, pytest.raises(ConfigurationError) as info:
        FedExAdapter(account).rates(shared.rate_request())
    assert "account_number" in info.value.message
    assert len(rsps.calls) == 0


def test_health_check_fetches_a_fresh_token(adapter, mocked):
    assert adapter.health_check().ok
    assert len(sent(mocked, "POST", TOKEN_URL)) == 1


def test_secrets_stay_out_of_the_call_log(adapter, mocked):
    mocked.post(RATES_URL, status=401, json=fx("error_unauthorized.json"))
    with pytest.raises(NotProcessed):
        adapter.rates(shared.rate_request())
    for call in ProviderCall.objects.all():
        assert SECRET not in repr(call.__dict__)


# --- Rates ------------------------------------------------------------------------


def test_rate_request_uses_only_fields_of_the_published_request(adapter, mocked):
    mocked.post(RATES_URL, json=fx("rate_quotes.json"))

    adapter.rates(shared.international_rate_request())

    (call,) = sent(mocked, "POST", RATES_URL)
    body = exact_body(call)
    assert unknown_fields(body, fx("spec_rating_request.json")) == []
    shipment = body["requestedShipment"]
    assert body["accountNumber"] == {"value": "740561073"}
    assert shipment["rateRequestType"] == ["ACCOUNT", "LIST"]
    assert shipment["shipper"]["address"] == {
        "streetLines": ["1 Dock Road"],
        "city": "Memphis",
        "postalCode": "38118",
        "countryCode": "US",
        "stateOrProvinceCode": "TN",
    }
    assert shipment["requestedPackageLineItems"] == [
        {
            "weight": {"units": "LB", "value": Decimal("2.5")},
            "dimensions": {"length": 12, "width": 9, "height": 4, "units": "IN"},
        }
    ]
    (commodity,) = shipment["customsClearanceDetail"]["commodities"]
    # JSON numbers, as FedEx's example has them, written digit for digit.
    assert commodity["customsValue"] == {"amount": Decimal("30.00"), "currency": "USD"}
    assert b'"customsValue": {"amount": 30.00, "currency": "USD"}' in call.body
    assert commodity["harmonizedCode"] == "610910"


def test_metric_parcels_are_sent_in_pounds_and_inches_rounded_up(adapter, mocked):
    mocked.post(RATES_URL, json=fx("rate_quotes.json"))
    parcel = shared.PARCEL.__class__(
        weight=Decimal(1),
        weight_unit="kg",
        length=Decimal(30),
        width=Decimal(20),
        height=Decimal(10),
        dimension_unit="cm",
    )

    adapter.rates(shared.rate_request(parcels=(parcel,)))

    (package,) = exact_body(sent(mocked, "POST", RATES_URL)[0])["requestedShipment"][
        "requestedPackageLineItems"
    ]
    assert package["weight"] == {"units": "LB", "value": Decimal("2.3")}  # 2.2046...
    assert package["dimensions"] == {
        "length": 12,
        "width": 8,
        "height": 4,
        "units": "IN",
    }


def test_rates_quote_the_account_price_of_each_service(adapter, mocked):
    mocked.post(RATES_URL, json=fx("rate_quotes.json"))

    rates = {r.service_code: r for r in adapter.rates(shared.rate_request())}

    assert len(rates) == 6
    economy = rates["INTERNATIONAL_ECONOMY"]
    assert (economy.amount, economy.currency) == (95417, "USD")
    assert economy.service_name == "FedEx International Economy®"
    assert economy.extra == {"rate_type": "ACCOUNT"}
    ground = rates["FEDEX_GROUND"]
    # The ACCOUNT variant in the account's currency, not PREFERRED_CURRENCY.
    assert (ground.amount, ground.currency) == (53568, "CAD")
    assert ground.transit_days == 4
    assert ground.estimated_delivery == date(2024, 7, 25)


def test_a_negotiated_discount_is_quoted_unless_list_prices_are_asked(account, mocked):
    answer = fx("rate_quotes.json")
    economy = answer["output"]["rateReplyDetails"][0]
    for variant in economy["ratedShipmentDetails"]:
        if variant["rateType"] == "ACCOUNT":
            variant["totalNetCharge"] = 812.4
    mocked.post(RATES_URL, json=answer)

    account_rates = FedExAdapter(account).rates(shared.rate_request())
    account.settings = {**account.settings, "rate_type": "list"}
    list_rates = FedExAdapter(account).rates(shared.rate_request())

    assert account_rates[0].amount == 81240
    assert (list_rates[0].amount, list_rates[0].extra["rate_type"]) == (95417, "LIST")


def test_rated_variant_falls_back_to_what_came():
    only_preferred = [{"rateType": "PREFERRED_CURRENCY", "totalNetCharge": 5}]
    assert pick_rated_variant(only_preferred) == only_preferred[0]
    assert pick_rated_variant([]) is None
    answer = fx("rate_quotes_preferred_currency.json")
    variants = answer["output"]["rateReplyDetails"][0]["ratedShipmentDetails"]
    chosen = pick_rated_variant(variants, prefer_list=True)
    assert (chosen["rateType"], chosen["currency"]) == ("ACCOUNT", "USD")


def test_a_refused_postcode_is_rejected_with_fedex_reason(adapter, mocked):
    mocked.post(RATES_URL, status=400, json=fx("error_validation.json"))

    with pytest.raises(Rejected) as caught:
        adapter.rates(shared.rate_request())

    assert caught.value.code == "bad_request"
    assert caught.value.provider_code == "RECIPIENTS.POSTALCODE.INVALID"
    assert "postal code" in caught.value.message


def test_live_accounts_use_the_live_host(account):
    account.mode = "live"
    adapter = FedExAdapter(account)
    assert adapter.base_url == "https://apis.fedex.com"
    assert adapter.oauth_credentials().token_url == "https://apis.fedex.com/oauth/token"


# --- Labels -----------------------------------------------------------------------


def test_label_is_bought_and_decoded(adapter, mocked):
    mocked.post(SHIP_URL, json=fx("ship_response.json"))
    request = shared.label_request("FEDEX_GROUND")

    label = adapter.create_label(request)

    assert label.tracking_number == label.carrier_shipment_id == "794791341818"
    assert label.parcel_tracking_numbers == ("794791341818",)
    assert label.label_data.startswith(b"%PDF")
    assert (label.amount, label.currency) == (444819, "USD")
    (call,) = sent(mocked, "POST", SHIP_URL)
    body = body_of(call)
    assert unknown_fields(body, fx("spec_shipping_request.json")) == []
    assert body["labelResponseOptions"] == "LABEL"
    assert body["requestedShipment"]["serviceType"] == "FEDEX_GROUND"
    assert body["requestedShipment"]["labelSpecification"]["imageType"] == "PDF"
    assert call.headers["x-customer-transaction-id"] == request.idempotency_key


def test_zpl_labels_are_asked_for_as_zplii(adapter, mocked):
    answer = fx("ship_response.json")
    piece = answer["output"]["transactionShipments"][0]["pieceResponses"][0]
    piece["packageDocuments"][0]["encodedLabel"] = base64.b64encode(
        b"^XA^FO50,50^FDFedEx^FS^XZ"
    ).decode()
    mocked.post(SHIP_URL, json=answer)

    label = adapter.create_label(
        shared.label_request("FEDEX_GROUND", label_format=LabelFormat.ZPL)
    )

    spec = body_of(sent(mocked, "POST", SHIP_URL)[0])["requestedShipment"][
        "labelSpecification"
    ]
    assert spec == {"imageType": "ZPLII", "labelStockType": "STOCK_4X6"}
    assert label.label_data.startswith(b"^XA")


def test_a_label_that_is_not_base64_is_unknown_never_rebought(adapter, mocked):
    answer = copy.deepcopy(fx("ship_response.json"))
    piece = answer["output"]["transactionShipments"][0]["pieceResponses"][0]
    piece["packageDocuments"][0]["encodedLabel"] = "%%% not base64 %%%"
    mocked.post(SHIP_URL, json=answer)

    with pytest.raises(Unknown) as caught:
        adapter.create_label(shared.label_request("FEDEX_GROUND"))

    # The label was made: its ids kept, its file marked garbled.
    assert caught.value.code == "garbled_label_file"
    assert caught.value.label.tracking_number


def test_void_cancels_every_package(adapter, mocked):
    mocked.put(CANCEL_URL, json=fx("cancel_response.json"))

    result = adapter.void_label(
        VoidRequest(
            carrier_shipment_id="794953555571",
            tracking_number="794953555571",
            idempotency_key="void-1",
        )
    )

    assert result.voided
    body = body_of(sent(mocked, "PUT", CANCEL_URL)[0])
    assert unknown_fields(body, fx("spec_cancel_request.json")) == []
    assert body["trackingNumber"] == "794953555571"
    assert body["deletionControl"] == "DELETE_ALL_PACKAGES"


def test_void_refused_in_transit_is_a_result_with_fedex_reason(adapter, mocked):
    mocked.put(CANCEL_URL, status=400, json=fx("error_cancel_in_transit.json"))

    result = adapter.void_label(
        VoidRequest(
            carrier_shipment_id="794953555571",
            tracking_number="794953555571",
            idempotency_key="void-1",
        )
    )

    assert not result.voided
    assert "already been tendered" in result.detail


# --- Tracking ---------------------------------------------------------------------


def _track_answer(*scans: tuple[str, str, str]) -> dict:
    """The fixture's track answer with these (code, description, ISO time)
    scans in place of its own, newest first as FedEx lists them."""
    answer = copy.deepcopy(fx("track_response.json"))
    result = answer["output"]["completeTrackResults"][0]["trackResults"][0]
    template = result["scanEvents"][0]
    result["scanEvents"] = [
        {
            **template,
            "date": at,
            "eventType": code,
            "derivedStatusCode": code,
            "eventDescription": text,
            "derivedStatus": text,
        }
        for code, text, at in reversed(scans)
    ]
    latest = scans[-1][0]
    result["latestStatusDetail"] = {"code": latest, "derivedCode": latest}
    result["deliveryDetails"] = {}
    return answer


def _fedex_shipment(account, number: str):
    from shipping.models import Shipment, ShipmentStatus

    return Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="FedEx",
        service_code="FEDEX_GROUND",
        amount=1000,
        currency="USD",
        idempotency_key=f"fedex-{number}",
        status=ShipmentStatus.PURCHASED,
        tracking_number=number,
        carrier_shipment_id=number,
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [("LO", "in_transit"), ("AO", "in_transit"), ("SF", "in_transit")],
)
def test_a_documented_scan_past_the_label_refuses_the_void(
    account, mocked, code, status
):
    from datetime import timedelta

    from django.utils import timezone

    from shipping import services

    now = timezone.now()
    mocked.post(
        TRACK_URL,
        json=_track_answer(
            ("OC", "Shipment information sent to FedEx", (now).isoformat()),
            (
                code,
                "Left FedEx origin facility",
                (now + timedelta(hours=3)).isoformat(),
            ),
        ),
    )
    shipment = _fedex_shipment(account, "794953555571")

    services.shipment_tracking_refresh(shipment=shipment)

    assert shipment.tracking_status == status
    with pytest.raises(services.InvalidState) as refused:
        services.shipment_void(shipment=shipment)
    assert refused.value.code == "in_transit"
    assert not sent(mocked, "PUT", CANCEL_URL)


def test_an_undocumented_scan_after_the_label_refuses_the_void(account, mocked):
    from datetime import timedelta

    from django.utils import timezone

    from shipping import services

    now = timezone.now()
    mocked.post(
        TRACK_URL,
        json=_track_answer(
            ("OC", "Shipment information sent to FedEx", now.isoformat()),
            (
                "Q9",
                "A scan FedEx documents nowhere",
                (now + timedelta(hours=1)).isoformat(),
            ),
        ),
    )
    shipment = _fedex_shipment(account, "794953555572")

    services.shipment_tracking_refresh(shipment=shipment)

    # Not followed (we cannot say what it is), but the carrier may have it.
    assert shipment.tracking_status == "pre_transit"
    assert shipment.tracking_events.filter(status="unknown").count() == 1
    with pytest.raises(services.InvalidState) as refused:
        services.shipment_void(shipment=shipment)
    assert refused.value.code == "in_transit"
    assert not sent(mocked, "PUT", CANCEL_URL)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        # FedEx Track service's scan codes: return-label links, no parcel.
        ("RP", "Return label link emailed to return sender"),
        ("LP", "Return label link cancelled by shipment originator"),
        ("RG", "Return label link expiring soon"),
        ("RD", "Return label link expired"),
    ],
)
def test_a_return_label_link_scan_does_not_make_the_parcel_returned(
    account, mocked, code, text
):
    from datetime import timedelta

    from django.utils import timezone

    from shipping import services

    now = timezone.now()
    picked_up = ("PU", "Picked up", now.isoformat())
    link = (code, text, (now + timedelta(hours=1)).isoformat())
    delivered = ("DL", "Delivered", (now + timedelta(hours=9)).isoformat())
    mocked.post(TRACK_URL, json=_track_answer(picked_up, link))
    shipment = _fedex_shipment(account, "794953555573")

    services.shipment_tracking_refresh(shipment=shipment)

    assert shipment.tracking_status == "in_transit"
    assert shipment.tracking_events.get(carrier_status_code=code).status == (
        "pre_transit"
    )
    # Not final: the parcel is still followed to its delivery.
    mocked.replace(
        responses.POST, TRACK_URL, json=_track_answer(picked_up, link, delivered)
    )
    services.shipment_tracking_refresh(shipment=shipment)
    assert shipment.tracking_status == "delivered"


def test_return_to_shipper_is_still_returned(account, mocked):
    from datetime import timedelta

    from django.utils import timezone

    from shipping import services

    now = timezone.now()
    mocked.post(
        TRACK_URL,
        json=_track_answer(
            ("PU", "Picked up", now.isoformat()),
            ("RS", "Return to Shipper", (now + timedelta(days=3)).isoformat()),
        ),
    )
    shipment = _fedex_shipment(account, "794953555574")

    services.shipment_tracking_refresh(shipment=shipment)

    assert shipment.tracking_status == "returned"


def test_a_shipment_cancelled_scan_leaves_the_void_to_fedex(account, mocked):
    from datetime import timedelta

    from django.utils import timezone

    from shipping import services
    from shipping.models import Shipment, ShipmentStatus

    # Our void landed at FedEx but its answer was lost: tracking then says
    # CA (shipment cancelled), which is no parcel with FedEx (never read as
    # in transit) and FedEx's word that the label is void: the shipment ends
    # voided without a second cancel (test_ship28_label_voided).
    now = timezone.now()
    mocked.post(
        TRACK_URL,
        json=_track_answer(
            ("OC", "Shipment information sent to FedEx", now.isoformat()),
            ("CA", "Shipment cancelled", (now + timedelta(hours=1)).isoformat()),
        ),
    )
    shipment = _fedex_shipment(account, "794953555575")

    services.shipment_tracking_refresh(shipment=shipment)
    assert shipment.tracking_status == "pre_transit"

    assert not sent(mocked, "PUT", CANCEL_URL)
    assert Shipment.objects.get().status == ShipmentStatus.VOIDED


@pytest.mark.parametrize(
    ("code", "text"),
    [
        # FedEx Delivery Manager: the recipient's requests, possible as soon
        # as the label exists; no scan of the parcel.
        ("RR", "Delivery option requested"),
        ("RM", "Delivery option modified"),
        ("RC", "Delivery option cancelled"),
    ],
)
def test_a_recipients_delivery_option_request_leaves_the_label_voidable(
    account, mocked, code, text
):
    from datetime import timedelta

    from django.utils import timezone

    from shipping import services

    now = timezone.now()
    mocked.post(
        TRACK_URL,
        json=_track_answer(
            ("OC", "Shipment information sent to FedEx", now.isoformat()),
            (code, text, (now + timedelta(hours=1)).isoformat()),
        ),
    )
    mocked.put(CANCEL_URL, json=fx("cancel_response.json"))
    shipment = _fedex_shipment(account, "794953555576")

    services.shipment_tracking_refresh(shipment=shipment)

    assert shipment.tracking_status == "pre_transit"
    services.shipment_void(shipment=shipment)
    assert sent(mocked, "PUT", CANCEL_URL)


def test_the_scan_code_is_the_event_type_not_the_derived_status(account, mocked):
    from datetime import timedelta

    from django.utils import timezone

    from shipping import services

    # FedEx puts a scan's event code in scanEvents[].eventType (its Track API
    # change log: "returned in the scanEvents ... eventType element");
    # derivedStatusCode is a coarser status derived from it. A pickup delay
    # (PD, the courier not yet at the door) derived as a delay (DY).
    now = timezone.now()
    answer = _track_answer(
        ("OC", "Shipment information sent to FedEx", now.isoformat()),
        ("PD", "Pickup delay", (now + timedelta(hours=1)).isoformat()),
    )
    result = answer["output"]["completeTrackResults"][0]["trackResults"][0]
    result["scanEvents"][0].update(derivedStatusCode="DY", derivedStatus="Delay")
    mocked.post(TRACK_URL, json=answer)
    mocked.put(CANCEL_URL, json=fx("cancel_response.json"))
    shipment = _fedex_shipment(account, "794953555577")

    services.shipment_tracking_refresh(shipment=shipment)

    assert shipment.tracking_events.get(carrier_status_code="PD").status == (
        "pre_transit"
    )
    assert shipment.tracking_status == "pre_transit"
    services.shipment_void(shipment=shipment)
    assert sent(mocked, "PUT", CANCEL_URL)


def test_tracking_events_oldest_first_with_our_statuses(adapter, mocked):
    mocked.post(TRACK_URL, json=fx("track_response.json"))

    info = adapter.track(shared.track_request("128667043726"))

    assert [e.carrier_status_code for e in info.events] == ["PU", "IT", "OD", "DL"]
    assert [e.status for e in info.events] == [
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]
    assert info.status is TrackingStatus.DELIVERED
    assert info.events[0].location == "SEATTLE, WA, US"
    assert info.signed_by == "Reciever"
    body = body_of(sent(mocked, "POST", TRACK_URL)[0])
    assert unknown_fields(body, fx("spec_tracking_request.json")) == []


def test_an_unknown_number_in_a_200_is_not_found(adapter, mocked):
    mocked.post(TRACK_URL, json=fx("track_not_found.json"))

    with pytest.raises(Rejected) as caught:
        adapter.track(shared.track_request("123456789012"))

    assert caught.value.code == "not_found"
    assert caught.value.provider_code == "TRACKING.TRACKINGNUMBER.NOTFOUND"
    assert ProviderCall.objects.get(operation="fedex_track").outcome == "rejected"


# --- Pickups and addresses --------------------------------------------------------


def pickup_request() -> PickupRequest:
    return PickupRequest(
        address=shared.SHIPPER,
        pickup_date=date(2026, 12, 7),
        ready_time=time(10, 0),
        close_time=time(17, 30),
        parcel_count=3,
        total_weight=Decimal("7.5"),
        weight_unit="lb",
        idempotency_key="pickup-1",
        service_code="FEDEX_GROUND",
    )


def test_pickup_is_booked_and_cancelled_with_its_location(adapter, mocked):
    mocked.post(PICKUP_URL, json=fx("pickup_response.json"))
    mocked.put(f"{PICKUP_URL}/cancel", json=fx("cancel_pickup_response.json"))

    pickup = adapter.schedule_pickup(pickup_request())
    adapter.cancel_pickup(
        PickupCancellation(
            confirmation_number=pickup.confirmation_number,
            pickup_date=pickup.pickup_date,
            address=shared.SHIPPER,
            location_code=pickup.location_code,
        )
    )

    assert (pickup.confirmation_number, pickup.location_code) == ("3001", "COSA")
    booked = body_of(sent(mocked, "POST", PICKUP_URL)[0])
    assert unknown_fields(booked, fx("spec_pickup_request.json")) == []
    assert booked["originDetail"]["readyDateTimestamp"] == "2026-12-07T10:00:00"
    assert booked["carrierCode"] == "FDXG"
    cancelled = body_of(sent(mocked, "PUT", f"{PICKUP_URL}/cancel")[0])
    assert unknown_fields(cancelled, fx("spec_cancel_pickup_request.json")) == []
    assert cancelled["location"] == "COSA"


def test_address_validation_standardises_the_address(adapter, mocked):
    mocked.post(ADDRESS_URL, json=fx("address_resolved.json"))

    result = adapter.validate_address(shared.RECIPIENT)

    assert result.valid and result.residential is True
    assert result.address.street_lines == ("742 EVERGREEN TER",)
    assert result.address.postal_code == "62704-1234"
    assert result.address.name == shared.RECIPIENT.name


def test_a_retried_pickup_cancel_fedex_no_longer_finds_is_left_to_staff(
    account, mocked
):
    from requests.exceptions import ReadTimeout as Lost

    from shipping import services
    from shipping.models import PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    cancel_url = f"{PICKUP_URL}/cancel"
    pickup = scheduled_pickup(account, "NQAA97", location_code="LOSA")
    mocked.put(cancel_url, body=Lost("answer lost"))
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)
    gone = copy.deepcopy(fx("error_response.json"))
    gone["errors"] = [{"code": "NOT.FOUND.ERROR", "message": "Pickup not found"}]
    mocked.replace(responses.PUT, cancel_url, status=404, json=gone)

    # Ours landed, or FedEx came and the pickup is done: not settled here.
    with pytest.raises(ShippingError) as answer:
        services.pickup_cancel(pickup=pickup)

    assert answer.value.code == "cancel_in_doubt"
    pickup.refresh_from_db()
    assert pickup.status == PickupStatus.UNKNOWN
    assert "Pickup not found" in pickup.failure_message
    assert len(sent(mocked, "PUT", cancel_url)) == 2
