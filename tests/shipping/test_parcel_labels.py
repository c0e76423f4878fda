"""Multi-parcel shipments: FedEx prints one label per piece; every piece's
label and tracking number is stored and downloadable from the API and the
admin (fixture: tests/fixtures/fedex/ship_response_three_pieces.json)."""

import base64
import copy
from datetime import timedelta

import pytest
import responses
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.errors import Unknown
from shipping import codec, services
from shipping.models import RateQuote, ShipmentParcel, ShipmentStatus
from shipping.providers.fedex import FedExAdapter
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import body_of, load, sent

pytestmark = pytest.mark.django_db

BASE = "https://apis-sandbox.fedex.com"
SHIP_URL = f"{BASE}/ship/v1/shipments"
NUMBERS = ("794791341818", "794791341829", "794791341830")


@pytest.fixture
def account():
    return ProviderAccountFactory(
        kind="shipping",
        provider="fedex",
        slug="fedex-multi",
        settings={"account_number": "740561073", "max_attempts": 1},
        credentials={"client_id": "fx-key", "client_secret": "fx-secret"},
    )


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/oauth/token", json=load("fedex", "oauth_token.json"))
        rsps.post(SHIP_URL, json=load("fedex", "ship_response_three_pieces.json"))
        yield rsps


def _three_parcels() -> tuple:
    return (shared.PARCEL,) * 3


def test_every_piece_gets_its_own_label_in_sequence(account, mocked):
    label = FedExAdapter(account).create_label(
        shared.label_request("FEDEX_GROUND", parcels=_three_parcels())
    )

    # The answer lists piece 2 first; FedEx's packageSequenceNumber orders.
    assert label.parcel_tracking_numbers == NUMBERS
    assert [p.tracking_number for p in label.parcel_labels] == list(NUMBERS)
    assert [p.label_data.split(b"\n")[1] for p in label.parcel_labels] == [
        b"% piece 1",
        b"% piece 2",
        b"% piece 3",
    ]
    assert label.label_data == label.parcel_labels[0].label_data
    assert label.tracking_number == NUMBERS[0]
    body = body_of(sent(mocked, "POST", SHIP_URL)[0])
    assert body["requestedShipment"]["totalPackageCount"] == 3


def test_a_piece_label_that_is_not_base64_is_unknown(account, mocked):
    answer = copy.deepcopy(load("fedex", "ship_response_three_pieces.json"))
    pieces = answer["output"]["transactionShipments"][0]["pieceResponses"]
    pieces[2]["packageDocuments"][0]["encodedLabel"] = "%%% not base64"
    mocked.replace(responses.POST, SHIP_URL, json=answer)

    with pytest.raises(Unknown):
        FedExAdapter(account).create_label(
            shared.label_request("FEDEX_GROUND", parcels=_three_parcels())
        )


def _buy(account) -> str:
    quote = RateQuote.objects.create(
        fingerprint="m" * 64,
        account=account,
        carrier="FedEx",
        service_code="FEDEX_GROUND",
        service_name="FedEx Ground",
        amount=444819,
        currency="USD",
        request=codec.request_to_json(shared.rate_request(parcels=_three_parcels())),
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="mp-1")
    assert shipment.status == ShipmentStatus.PURCHASED, shipment.failure_message
    return shipment.public_id


def test_the_api_lists_and_serves_every_piece(account, mocked):
    public_id = _buy(account)
    key = ApiKeyFactory(scopes=["shipping:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")

    shipment = api.get(f"/api/v1/shipping/shipments/{public_id}/").json()

    assert shipment["tracking_number"] == NUMBERS[0]
    pieces = shipment["parcel_labels"]
    assert [(p["sequence"], p["tracking_number"]) for p in pieces] == [
        (1, NUMBERS[0]),
        (2, NUMBERS[1]),
        (3, NUMBERS[2]),
    ]
    second = api.get(pieces[1]["label_url"])
    assert second.status_code == 200
    assert second.content.startswith(b"%PDF-1.4\n% piece 2\n")
    assert f"{public_id}-2.pdf" in second["Content-Disposition"]
    master = api.get(shipment["label_url"])
    assert master.content.startswith(b"%PDF-1.4\n% piece 1\n")
    for bad in ("9", "0", "two", "\u00b2", "1" * 5000):
        missing = api.get(shipment["label_url"], {"parcel": bad})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "no_label"
    assert ShipmentParcel.objects.filter(shipment__public_id=public_id).count() == 3


def test_the_admin_links_and_serves_every_piece(account, mocked, admin_client):
    public_id = _buy(account)
    parcel = ShipmentParcel.objects.get(shipment__public_id=public_id, sequence=3)
    pk = parcel.shipment_id

    page = admin_client.get(f"/admin/shipping/shipment/{pk}/change/").content.decode()
    third = admin_client.get(f"/admin/shipping/shipment/{pk}/label/", {"parcel": 3})

    assert f"Parcel 3 ({NUMBERS[2]})" in page
    assert page.count('class="parcel-label"') == 3
    assert third.content == bytes(parcel.label_data)
    missing = admin_client.get(f"/admin/shipping/shipment/{pk}/label/?parcel=4")
    assert missing.status_code == 404


def test_a_single_parcel_shipment_stores_no_piece_rows(account, mocked):
    one = load("fedex", "ship_response.json")
    mocked.replace(responses.POST, SHIP_URL, json=one)
    quote_request = shared.rate_request()
    quote = RateQuote.objects.create(
        fingerprint="s" * 64,
        account=account,
        carrier="FedEx",
        service_code="FEDEX_GROUND",
        amount=444819,
        currency="USD",
        request=codec.request_to_json(quote_request),
        expires_at=timezone.now() + timedelta(minutes=10),
    )

    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="sp-1")

    assert shipment.status == ShipmentStatus.PURCHASED
    assert not ShipmentParcel.objects.filter(shipment=shipment).exists()
    encoded = one["output"]["transactionShipments"][0]["pieceResponses"][0][
        "packageDocuments"
    ][0]["encodedLabel"]
    assert bytes(shipment.label_data) == base64.b64decode(encoded)
