"""USPS international parcels: base rates from the International Prices API
and labels from the International Labels API v3 with the customs form mapped
(fixtures: tests/fixtures/usps/README.md, the international_* rows)."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from integrations.errors import Rejected
from shipping import codec, services
from shipping.models import RateQuote, ShipmentStatus
from shipping.providers.base import ContentsType, VoidRequest
from shipping.providers.usps import USPSAdapter
from shipping.providers.validation import InvalidShippingRequest
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import (
    FIXTURES,
    exact_body,
    load,
    sent,
    unknown_fields,
)

pytestmark = pytest.mark.django_db

BASE = "https://api-cat.usps.com"
RATES_URL = f"{BASE}/international-prices/v3/base-rates/search"
PAY_URL = f"{BASE}/payments/v3/payment-authorization"
LABEL_URL = f"{BASE}/international-labels/v3/international-label"
MULTIPART = "multipart/form-data; boundary=726UYUDSQB6JWJXFDY"
PMI = "PRIORITY_MAIL_INTERNATIONAL"


def fx(name: str) -> dict:
    return load("usps", name)


@pytest.fixture
def account():
    return ProviderAccountFactory(
        kind="shipping",
        provider="usps",
        slug="usps-intl",
        settings={
            "crid": "56982563",
            "mid": "904128936",
            "account_number": "1000115566",
            "max_attempts": 1,
            "breaker_consecutive_failures": 50,
        },
        credentials={"client_id": "usps-key", "client_secret": "usps-secret"},
    )


@pytest.fixture
def adapter(account) -> USPSAdapter:
    return USPSAdapter(account)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/oauth2/v3/token", json=fx("oauth_token.json"))
        rsps.post(PAY_URL, json=fx("payment_authorization.json"))
        body = (
            FIXTURES / "usps" / "international_label_response.multipart"
        ).read_bytes()
        rsps.post(LABEL_URL, body=body, content_type=MULTIPART)
        yield rsps


def label_request(**changes):
    values = {
        "to_address": shared.ABROAD,
        "customs": shared.CUSTOMS,
        "carrier_rate_id": f"{PMI}|SP|NON_MACHINABLE",
        **changes,
    }
    return shared.label_request(PMI, **values)


def test_each_parcel_class_is_priced_and_one_not_offered_is_left_out(adapter, mocked):
    express = fx("international_base_rates.json")
    express["totalBasePrice"] = 78.15
    mocked.post(RATES_URL, status=400, json=fx("error_validation.json"))
    mocked.post(RATES_URL, json=fx("international_base_rates.json"))
    mocked.post(RATES_URL, json=express)

    rates = adapter.rates(shared.international_rate_request())

    assert [(r.service_code, r.amount, r.currency) for r in rates] == [
        (PMI, 5220, "USD"),
        ("PRIORITY_MAIL_EXPRESS_INTERNATIONAL", 7815, "USD"),
    ]
    assert rates[0].carrier_rate_id == f"{PMI}|SP|NON_MACHINABLE"
    calls = sent(mocked, "POST", RATES_URL)
    bodies = [exact_body(call) for call in calls]
    assert [b["mailClass"] for b in bodies] == [
        "FIRST-CLASS_PACKAGE_INTERNATIONAL_SERVICE",
        PMI,
        "PRIORITY_MAIL_EXPRESS_INTERNATIONAL",
    ]
    spec = fx("spec_international_rate_request.json")
    assert all(unknown_fields(body, spec) == [] for body in bodies)
    assert bodies[1]["destinationCountryCode"] == "DE"
    assert bodies[1]["foreignPostalCode"] == "10115"
    assert bodies[1]["originZIPCode"] == "38118"
    assert (bodies[1]["weight"], bodies[1]["length"]) == (Decimal("2.5"), 12)


def test_a_request_usps_refuses_for_every_class_is_its_refusal_not_no_rates(
    adapter, mocked
):
    mocked.post(RATES_URL, status=400, json=fx("error_validation.json"))

    with pytest.raises(Rejected) as refused:
        adapter.rates(shared.international_rate_request())

    assert refused.value.http_status == 400
    assert len(sent(mocked, "POST", RATES_URL)) == 3  # each class was asked


def test_the_label_carries_the_customs_form_and_is_paid_for(adapter, mocked):
    label = adapter.create_label(label_request())

    assert label.tracking_number == label.carrier_shipment_id == "LZ123456785US"
    assert (label.amount, label.currency) == (5220, "USD")
    assert label.label_data.startswith(b"%PDF-1.4\n% USPS international label")
    (call,) = sent(mocked, "POST", LABEL_URL)
    assert call.headers["X-Payment-Authorization-Token"] == "usps-payment-token-1"
    body = exact_body(call)
    assert unknown_fields(body, fx("spec_international_label_request.json")) == []
    assert body["toAddress"] == {
        "firstName": "Grace",
        "lastName": "Kunde",
        "phone": "+493055501234",
        "streetAddress": "Hauptstrasse 5",
        "city": "Berlin",
        "postalCode": "10115",
        "country": "Germany",
        "countryISOAlpha2Code": "DE",
    }
    package = body["packageDescription"]
    assert (package["mailClass"], package["rateIndicator"]) == (PMI, "SP")
    assert package["processingCategory"] == "NON_MACHINABLE"
    form = body["customsForm"]
    assert form["customsContentType"] == "MERCHANDISE"
    (line,) = form["contents"]
    assert line == {
        "itemDescription": "Cotton T-shirt",
        "itemQuantity": 2,
        "itemValue": Decimal("15.00"),
        "itemTotalValue": Decimal("30.00"),
        "weightUOM": "lb",
        "itemWeight": Decimal("0.6614"),  # 0.3 kg, rounded up
        "itemTotalWeight": Decimal("1.3228"),
        "HSTariffNumber": "610910",
        "countryofOrigin": "US",
    }
    assert b'"itemValue": 15.00, "itemTotalValue": 30.00' in call.body


def test_gift_contents_are_declared_as_a_gift(adapter, mocked):
    customs = replace(shared.CUSTOMS, contents_type=ContentsType.GIFT)

    adapter.create_label(label_request(customs=customs))

    body = exact_body(sent(mocked, "POST", LABEL_URL)[0])
    assert body["customsForm"]["customsContentType"] == "GIFT"


def test_customs_values_in_another_currency_are_refused_before_any_call(
    adapter, mocked
):
    item = replace(shared.CUSTOMS.items[0], currency="EUR")
    customs = replace(shared.CUSTOMS, items=(item,))

    with pytest.raises(InvalidShippingRequest) as caught:
        adapter.create_label(label_request(customs=customs))

    assert caught.value.param == "customs.items[0].currency"
    assert caught.value.code == "currency_not_supported"
    assert not sent(mocked, "POST", LABEL_URL)


@pytest.mark.parametrize(
    ("code", "name"),
    [("KR", "South Korea"), ("CI", "Cote d'Ivoire"), ("XK", "Kosovo")],
)
def test_the_country_goes_by_its_plain_name_and_its_code(adapter, mocked, code, name):
    abroad = replace(shared.ABROAD, country_code=code, postal_code="10000")

    adapter.create_label(label_request(to_address=abroad))

    (call,) = sent(mocked, "POST", LABEL_URL)
    to = exact_body(call)["toAddress"]
    assert (to["country"], to["countryISOAlpha2Code"]) == (name, code)


def test_a_code_naming_no_country_is_refused_before_the_call(adapter, mocked):
    nowhere = replace(shared.ABROAD, country_code="QQ", postal_code="10000")

    with pytest.raises(InvalidShippingRequest) as caught:
        adapter.create_label(label_request(to_address=nowhere))

    assert caught.value.param == "to_address.country_code"
    assert caught.value.code == "invalid_country"
    assert not sent(mocked, "POST", LABEL_URL)


def test_an_international_label_is_voided_where_it_was_made(adapter, mocked):
    url = f"{LABEL_URL}/LZ123456785US"
    mocked.delete(url, json={"trackingNumber": "LZ123456785US", "status": "CANCELED"})

    result = adapter.void_label(
        VoidRequest(
            carrier_shipment_id="LZ123456785US",
            tracking_number="LZ123456785US",
            idempotency_key="void-intl",
            service_code=PMI,
        )
    )

    assert result.voided and result.detail == "canceled"
    (call,) = sent(mocked, "DELETE", url)
    assert call.headers["X-Payment-Authorization-Token"] == "usps-payment-token-1"


def test_bought_from_a_quote_through_the_service(account, mocked):
    quote = RateQuote.objects.create(
        fingerprint="i" * 64,
        account=account,
        carrier="USPS",
        service_code=PMI,
        service_name="Priority Mail International",
        carrier_rate_id=f"{PMI}|SP|NON_MACHINABLE",
        amount=5220,
        currency="USD",
        request=codec.request_to_json(shared.international_rate_request()),
        expires_at=timezone.now() + timedelta(minutes=10),
    )

    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="i-1")

    assert shipment.status == ShipmentStatus.PURCHASED, shipment.failure_message
    assert shipment.tracking_number == "LZ123456785US"
    assert bytes(shipment.label_data).startswith(b"%PDF")
    body = exact_body(sent(mocked, "POST", LABEL_URL)[0])
    assert body["customsForm"]["contents"][0]["itemQuantity"] == 2
