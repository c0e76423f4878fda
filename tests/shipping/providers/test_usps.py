"""The USPS adapter against ``responses`` fixtures built from karrio's USPS
samples and USPS's own examples (tests/fixtures/usps/README.md): the JSON
token call, prices per mail class, labels paid by a payment authorization
and answered as multipart, tracking, pickups with their ETag, addresses."""

import base64
import json
import logging
from dataclasses import replace
from datetime import date, time
from decimal import Decimal

import pytest
import responses

from integrations.errors import Rejected, Unknown
from shipping.providers.base import (
    LabelFormat,
    PickupCancellation,
    PickupRequest,
    VoidRequest,
)
from shipping.providers.tracking_types import TrackingStatus
from shipping.providers.usps import USPSAdapter
from shipping.providers.validation import InvalidShippingRequest
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import (
    FIXTURES,
    body_of,
    exact_body,
    load,
    sent,
    unknown_fields,
)

pytestmark = pytest.mark.django_db

BASE = "https://api-cat.usps.com"
TOKEN_URL = f"{BASE}/oauth2/v3/token"
RATES_URL = f"{BASE}/shipments/v3/options/search"
PAY_URL = f"{BASE}/payments/v3/payment-authorization"
LABEL_URL = f"{BASE}/labels/v3/label"
NUMBER = "9400109104250532908587"
MULTIPART = "multipart/form-data; boundary=726UYUDSQB6JWJXFDY"
KEY, SECRET = "usps-consumer-key", "usps-secret-do-not-log"


def fx(name: str) -> dict:
    return load("usps", name)


@pytest.fixture
def account():
    return ProviderAccountFactory(
        kind="shipping",
        provider="usps",
        settings={
            "crid": "56982563",
            "mid": "904128936",
            "account_number": "1000115566",
            "max_attempts": 1,
            "breaker_consecutive_failures": 50,
        },
        credentials={"client_id": KEY, "client_secret": SECRET},
    )


@pytest.fixture
def adapter(account) -> USPSAdapter:
    return USPSAdapter(account)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(TOKEN_URL, json=fx("oauth_token.json"))
        yield rsps


def _label_mocks(mocked, body: bytes | None = None) -> None:
    mocked.post(PAY_URL, json=fx("payment_authorization.json"))
    content = body or (FIXTURES / "usps" / "label_response.multipart").read_bytes()
    mocked.post(LABEL_URL, body=content, content_type=MULTIPART)


def label_request(**changes):
    return shared.label_request(
        "PRIORITY_MAIL", carrier_rate_id="PRIORITY_MAIL|SP|MACHINABLE", **changes
    )


def test_the_token_is_asked_for_in_json_once(adapter, mocked):
    mocked.post(RATES_URL, json=fx("rate_response.json"))

    adapter.rates(shared.rate_request())
    adapter.rates(shared.rate_request())

    (token_call,) = sent(mocked, "POST", TOKEN_URL)
    assert json.loads(token_call.body) == {
        "grant_type": "client_credentials",
        "client_id": KEY,
        "client_secret": SECRET,
    }
    assert {c.headers["Authorization"] for c in sent(mocked, "POST", RATES_URL)} == {
        "Bearer usps-test-token-1"
    }


def test_one_rate_per_mail_class_its_cheapest_option(adapter, mocked):
    mocked.post(RATES_URL, json=fx("rate_response.json"))

    rates = {r.service_code: r for r in adapter.rates(shared.rate_request())}

    assert {code: r.amount for code, r in rates.items()} == {
        "LIBRARY_MAIL": 582,
        "PRIORITY_MAIL": 985,
        "USPS_GROUND_ADVANTAGE": 712,
    }
    priority = rates["PRIORITY_MAIL"]
    assert priority.carrier_rate_id == "PRIORITY_MAIL|SP|MACHINABLE"
    assert (priority.transit_days, priority.estimated_delivery) == (
        2,
        date(2025, 5, 29),
    )
    body = body_of(sent(mocked, "POST", RATES_URL)[0])
    assert unknown_fields(body, fx("spec_rate_request.json")) == []
    assert body["pricingOptions"][0]["paymentAccount"]["accountNumber"] == "1000115566"
    assert body["packageDescription"]["weight"] == 2.5
    package = exact_body(sent(mocked, "POST", RATES_URL)[0])["packageDescription"]
    assert (package["weight"], package["length"]) == (Decimal("2.5"), Decimal("12"))


def test_an_unusable_option_is_never_a_classs_cheapest(adapter, mocked, caplog):
    answer = fx("rate_response.json")
    classes = {
        option["mailClass"]: option
        for pricing in answer["pricingOptions"]
        for option in pricing["shippingOptions"]
    }
    classes["PRIORITY_MAIL"]["rateOptions"][0]["totalPrice"] = -9.85
    classes["LIBRARY_MAIL"]["rateOptions"][0]["totalPrice"] = "100000000000"
    for option in classes["USPS_GROUND_ADVANTAGE"]["rateOptions"]:
        option["totalPrice"] = 0
    mocked.post(RATES_URL, json=answer)
    caplog.set_level(logging.WARNING, logger="shipping.providers.prices")

    rates = {r.service_code: r.amount for r in adapter.rates(shared.rate_request())}

    # Each class keeps its usable option; a class with none is dropped.
    assert rates == {"LIBRARY_MAIL": 582, "PRIORITY_MAIL": 1100}
    assert sum(r.msg.startswith("carrier rate dropped") for r in caplog.records) >= 4


def test_two_parcels_are_refused_before_any_call(adapter, mocked):
    # The Labels API labels one package: a second would never be labelled.
    two = shared.rate_request(parcels=(shared.PARCEL, shared.PARCEL))

    with pytest.raises(InvalidShippingRequest) as caught:
        adapter.rates(two)

    assert caught.value.param == "parcels"
    assert not mocked.calls


def test_parcels_mailed_from_abroad_get_no_usps_rate_and_no_call(adapter, mocked):
    # International parcels from the US: tests/shipping/providers/
    # test_usps_international.py.
    request = shared.rate_request(
        from_address=shared.ABROAD, to_address=shared.SHIPPER, customs=shared.CUSTOMS
    )
    assert adapter.rates(request) == []
    assert not mocked.calls


def test_a_label_is_paid_for_and_read_from_the_multipart_answer(adapter, mocked):
    _label_mocks(mocked)

    label = adapter.create_label(label_request())

    assert label.tracking_number == "9205590109769900012613"
    assert label.label_data.startswith(b"%PDF")
    assert (label.amount, label.currency) == (764, "USD")
    assert label.estimated_delivery == date(2023, 5, 27)
    (pay,) = sent(mocked, "POST", PAY_URL)
    roles = body_of(pay)["roles"]
    assert [r["roleName"] for r in roles] == ["PAYER", "LABEL_OWNER"]
    (call,) = sent(mocked, "POST", LABEL_URL)
    assert call.headers["X-Payment-Authorization-Token"] == "usps-payment-token-1"
    body = body_of(call)
    assert unknown_fields(body, fx("spec_label_request.json")) == []
    package = body["packageDescription"]
    assert (package["mailClass"], package["rateIndicator"]) == ("PRIORITY_MAIL", "SP")
    assert body["imageInfo"]["imageType"] == "PDF"


def test_zpl_labels_are_asked_for_at_203_dpi(adapter, mocked):
    # Answered with a ZPL file (the fixture's PDF would be a garbled one).
    content = (FIXTURES / "usps" / "label_response.multipart").read_bytes()
    pdf = content.split(b"\r\n\r\n")[-1].split(b"\r\n")[0]
    _label_mocks(mocked, content.replace(pdf, base64.b64encode(b"^XA^XZ")))

    adapter.create_label(label_request(label_format=LabelFormat.ZPL))

    body = body_of(sent(mocked, "POST", LABEL_URL)[0])
    assert body["imageInfo"]["imageType"] == "ZPL203DPI"


def test_a_label_answer_without_its_image_is_a_garbled_file(adapter, mocked):
    # The label was made (its number in the metadata): kept, its file missing.
    broken = (
        b"--726UYUDSQB6JWJXFDY\r\nContent-Type: application/json\r\n"
        b'Content-Disposition: form-data; name="labelMetadata"\r\n\r\n'
        b'{"trackingNumber": "9205590109769900012613"}\r\n--726UYUDSQB6JWJXFDY--\r\n'
    )
    _label_mocks(mocked, broken)

    with pytest.raises(Unknown) as caught:
        adapter.create_label(label_request())

    assert caught.value.code == "garbled_label_file"
    assert caught.value.label.tracking_number == "9205590109769900012613"


def test_an_expired_token_on_the_label_call_is_refreshed_once(adapter, mocked):
    mocked.post(TOKEN_URL, json=fx("oauth_token_2.json"))
    mocked.post(PAY_URL, json=fx("payment_authorization.json"))
    mocked.post(LABEL_URL, status=401, json=fx("error_unauthorized.json"))
    content = (FIXTURES / "usps" / "label_response.multipart").read_bytes()
    mocked.post(LABEL_URL, body=content, content_type=MULTIPART)

    label = adapter.create_label(label_request())

    assert label.tracking_number
    first, second = sent(mocked, "POST", LABEL_URL)
    assert first.headers["Authorization"] == "Bearer usps-test-token-1"
    assert second.headers["Authorization"] == "Bearer usps-test-token-2"


def test_void_cancels_with_a_payment_authorization(adapter, mocked):
    mocked.post(PAY_URL, json=fx("payment_authorization.json"))
    url = f"{LABEL_URL}/9205590109769900012613"
    mocked.delete(url, json=fx("void_response.json"))

    result = adapter.void_label(
        VoidRequest(
            carrier_shipment_id="9205590109769900012613",
            tracking_number="9205590109769900012613",
            idempotency_key="v",
        )
    )

    assert result.voided and result.detail == "canceled"
    assert sent(mocked, "DELETE", url)[0].headers["X-Payment-Authorization-Token"]


def test_tracking_events_oldest_first(adapter, mocked):
    mocked.get(
        f"{BASE}/tracking/v3/tracking/{NUMBER}", json=fx("tracking_response.json")
    )

    info = adapter.track(shared.track_request(NUMBER))

    assert info.events[0].carrier_status_code == "GX"
    assert info.events[0].status is TrackingStatus.PRE_TRANSIT
    assert info.events[-2].status is TrackingStatus.OUT_FOR_DELIVERY
    assert info.status is TrackingStatus.DELIVERED
    assert info.events[-1].location == "HERNANDO, FL"
    (call,) = sent(mocked, "GET", f"{BASE}/tracking/v3/tracking/{NUMBER}")
    assert "expand=DETAIL" in call.url


def test_an_unknown_number_is_not_found(adapter, mocked):
    unknown = "9999999999999999999999"
    mocked.get(
        f"{BASE}/tracking/v3/tracking/{unknown}",
        status=404,
        json=fx("error_not_found.json"),
    )

    with pytest.raises(Rejected) as caught:
        adapter.track(shared.track_request(unknown))

    assert caught.value.code == "not_found"
    assert "could not be found" in caught.value.message


def test_pickup_booked_and_cancelled_against_its_etag(adapter, mocked):
    url = f"{BASE}/pickup/v3/carrier-pickup"
    mocked.post(url, json=fx("pickup_response.json"))
    mocked.get(
        f"{url}/WTC123456789", json=fx("pickup_response.json"), headers={"ETag": '"e1"'}
    )
    mocked.delete(f"{url}/WTC123456789", body="")

    # Carrier Pickup's contact (minItems 1) is the email: required.
    shipper = replace(shared.SHIPPER, email="dock@switchyard.example")
    pickup = adapter.schedule_pickup(
        PickupRequest(
            address=shipper,
            pickup_date=date(2026, 12, 7),
            ready_time=time(9, 0),
            close_time=time(17, 0),
            parcel_count=3,
            total_weight=Decimal("7.5"),
            weight_unit="lb",
            idempotency_key="p",
        )
    )
    adapter.cancel_pickup(
        PickupCancellation(
            confirmation_number=pickup.confirmation_number,
            pickup_date=pickup.pickup_date,
            address=shared.SHIPPER,
        )
    )

    assert pickup.confirmation_number == "WTC123456789"
    booked = body_of(sent(mocked, "POST", url)[0])
    assert unknown_fields(booked, fx("spec_pickup_request.json")) == []
    assert booked["estimatedWeight"] == 8
    assert booked["pickupAddress"]["contact"] == [{"email": shipper.email}]
    (cancel,) = sent(mocked, "DELETE", f"{url}/WTC123456789")
    assert cancel.headers["If-Match"] == '"e1"'


def test_address_standardisation(adapter, mocked):
    mocked.get(f"{BASE}/addresses/v3/address", json=fx("address_response.json"))

    result = adapter.validate_address(shared.RECIPIENT)

    assert result.valid and result.residential is True
    assert result.address.postal_code == "62704-1234"
    (call,) = sent(mocked, "GET", f"{BASE}/addresses/v3/address")
    assert "ZIPCode=62704" in call.url


def test_a_retried_pickup_cancel_usps_no_longer_finds_is_left_to_staff(account, mocked):
    from requests.exceptions import ReadTimeout as Lost

    from shipping import services
    from shipping.models import PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    url = f"{BASE}/pickup/v3/carrier-pickup/WTC123456789"
    pickup = scheduled_pickup(account, "WTC123456789")
    mocked.get(url, json=fx("pickup_response.json"), headers={"ETag": '"e1"'})
    mocked.delete(url, body=Lost("answer lost"))
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)
    # The retry's look-up is USPS's documented 404: our cancel landed, or
    # the pickup was done and archived. Staff settle which.
    gone = fx("error_not_found.json")
    gone["error"]["errors"][0]["detail"] = "Pickup WTC123456789 was not found."
    mocked.replace(responses.GET, url, status=404, json=gone)

    with pytest.raises(ShippingError) as answer:
        services.pickup_cancel(pickup=pickup)

    assert answer.value.code == "cancel_in_doubt"
    pickup.refresh_from_db()
    assert pickup.status == PickupStatus.UNKNOWN
    assert "not found" in pickup.failure_message
    assert len(sent(mocked, "DELETE", url)) == 1
    assert services.pickup_resolve(pickup=pickup).status == PickupStatus.CANCELLED


def test_a_cancel_whose_look_up_was_lost_sent_nothing_to_doubt(account, mocked):
    from requests.exceptions import ReadTimeout

    from shipping import services
    from shipping.models import PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    url = f"{BASE}/pickup/v3/carrier-pickup/WTC123456789"
    pickup = scheduled_pickup(account, "WTC123456789")
    # Try 1: the ETag look-up times out; no DELETE is ever sent.
    mocked.get(url, body=ReadTimeout("look-up answer lost"))
    mocked.delete(url, body="")
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)
    assert sent(mocked, "DELETE", url) == []
    # Try 2 (e.g. next day): USPS no longer finds the pickup (done, archived).
    mocked.replace(responses.GET, url, status=404, json=fx("error_not_found.json"))

    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)

    pickup.refresh_from_db()
    # No cancel of ours ever reached USPS: "not found" proves nothing.
    assert pickup.status == PickupStatus.SCHEDULED
    assert pickup.cancel_requested_at is None


def test_a_cancel_whose_token_call_was_lost_sent_nothing_to_doubt(account, mocked):
    from requests.exceptions import ReadTimeout

    from shipping import services
    from shipping.models import PickupStatus
    from shipping.services.errors import ShippingError
    from tests.shipping.helpers import scheduled_pickup

    url = f"{BASE}/pickup/v3/carrier-pickup/WTC123456789"
    pickup = scheduled_pickup(account, "WTC123456789")
    # The OAuth token call (before any pickup call) lost its answer.
    mocked.replace(responses.POST, TOKEN_URL, body=ReadTimeout("token lost"))
    mocked.get(url, status=404, json=fx("error_not_found.json"))
    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)
    assert sent(mocked, "GET", url) == [] and sent(mocked, "DELETE", url) == []
    mocked.replace(responses.POST, TOKEN_URL, json=fx("oauth_token.json"))

    with pytest.raises(ShippingError):
        services.pickup_cancel(pickup=pickup)

    pickup.refresh_from_db()
    assert pickup.status == PickupStatus.SCHEDULED


def test_a_disputed_cancel_is_not_a_void(adapter, mocked):
    """DISPUTED: USPS did not cancel the label outright (its refund is
    contested), so it may stay valid and billed: not announced as voided,
    USPS's word kept for staff."""
    mocked.post(PAY_URL, json=fx("payment_authorization.json"))
    url = f"{LABEL_URL}/9205590109769900012613"
    mocked.delete(url, json={**fx("void_response.json"), "status": "DISPUTED"})

    result = adapter.void_label(
        VoidRequest(
            carrier_shipment_id="9205590109769900012613",
            tracking_number="9205590109769900012613",
            idempotency_key="v",
        )
    )

    assert not result.voided
    assert "DISPUTED" in result.detail
