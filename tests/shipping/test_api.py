"""The storefront shipping API: rates, buying from a quote, the shipment
with its label and tracking, voids, pickups, address validation, scopes."""

import copy

import pytest
from rest_framework.test import APIClient

from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST, RATE_REQUEST
from shipping.models import SandboxLabel
from tests.shipping.helpers import api_client, carrier

RATES = "/api/v1/shipping/rates/"
SHIPMENTS = "/api/v1/shipping/shipments/"


@pytest.fixture
def api() -> APIClient:
    return api_client("shipping:read", "shipping:write")


def _post(api, url, data=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(url, data or {}, format="json", **headers)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_rates_buy_track_and_void(api):
    carrier("cheap", price_factor=0.5)
    carrier("dear", price_factor=2)
    carrier("broken", outage=True)
    rates = _post(api, RATES, RATE_REQUEST)
    assert rates.status_code == 200, rates.content
    quotes = rates.json()["quotes"]
    assert quotes[0]["cheapest"] and quotes[0]["account"] == "cheap"
    assert [f["account"] for f in rates.json()["failures"]] == ["broken"]
    body = {"quote_id": quotes[0]["quote_id"], "order_id": "o-9"}
    assert _post(api, SHIPMENTS, body).status_code == 400  # no Idempotency-Key
    bought = _post(api, SHIPMENTS, body, key="buy-1")
    assert bought.status_code == 201, bought.content
    again = _post(api, SHIPMENTS, body, key="buy-1")
    assert again.json()["id"] == bought.json()["id"]
    assert SandboxLabel.objects.count() == 1
    shipment = api.get(f"{SHIPMENTS}{bought.json()['id']}/").json()
    assert shipment["tracking_number"].startswith("SBX")
    assert shipment["tracking_status"] == "pre_transit"
    label = api.get(shipment["label_url"])
    assert label["Content-Type"] == "application/pdf"
    assert label.content.startswith(b"%PDF")
    voided = _post(api, f"{SHIPMENTS}{shipment['id']}/void/", key="void-1")
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    listed = api.get(SHIPMENTS, {"order_id": "o-9"}).json()
    assert [s["id"] for s in listed["results"]] == [shipment["id"]]
    assert "next" in listed


@pytest.mark.django_db
def test_a_request_no_carrier_could_take_is_a_400_naming_the_field(api):
    carrier("post")
    data = copy.deepcopy(RATE_REQUEST)
    data["parcels"][0]["weight"] = "0"
    response = _post(api, RATES, data)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "parcels[0].weight"
    data = copy.deepcopy(RATE_REQUEST)
    data["to_address"] = {**data["to_address"], "country_code": "DE"}
    error = _post(api, RATES, data).json()["error"]
    assert (error["code"], error["param"]) == ("customs_required", "customs.items")


@pytest.mark.django_db
def test_unknown_or_expired_quote(api):
    response = _post(api, SHIPMENTS, {"quote_id": "rq_missing"}, key="k-1")
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "quote_id"


@pytest.mark.django_db
def test_scopes():
    reader = api_client("shipping:read")
    assert _post(reader, SHIPMENTS, {"quote_id": "rq_x"}, key="k").status_code == 403
    assert reader.get(SHIPMENTS).status_code == 200
    assert api_client("payments:read").get(SHIPMENTS).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"parcel_count": 10**12}, "parcel_count"),
        ({"total_weight": "-5"}, "total_weight"),
        ({"total_weight": "0"}, "total_weight"),
    ],
)
def test_a_pickup_with_impossible_numbers_is_a_400(api, change, param):
    carrier("post")
    body = PICKUP_REQUEST | {"account": "post"} | change
    answer = _post(api, "/api/v1/shipping/pickups/", body, key="p-bad")
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["param"] == param


@pytest.mark.django_db
def test_a_customs_currency_that_is_not_iso_4217_is_a_400(api):
    carrier("post")
    customs = {
        "items": [
            {
                "description": "Mug",
                "quantity": 1,
                "value": 1000,
                "currency": "ZZZ",
                "weight": "0.4",
                "origin_country": "DE",
            }
        ]
    }
    answer = _post(api, RATES, RATE_REQUEST | {"customs": customs})
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["param"] == "customs.items[0].currency"


@pytest.mark.django_db
def test_pickup_and_address_validation(api):
    carrier("post")
    pickup = _post(
        api,
        "/api/v1/shipping/pickups/",
        PICKUP_REQUEST | {"account": "post"},
        key="p-1",
    )
    assert pickup.status_code == 201, pickup.content
    assert pickup.json()["confirmation_number"].startswith("PU")
    cancel_url = f"/api/v1/shipping/pickups/{pickup.json()['id']}/cancel/"
    assert _post(api, cancel_url).status_code == 400  # no Idempotency-Key
    cancelled = _post(api, cancel_url, key="pc-1")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled"
    missing = _post(api, "/api/v1/shipping/pickups/pu_nope/cancel/", key="pc-2")
    assert missing.status_code == 404
    bad = _post(
        api,
        "/api/v1/shipping/pickups/",
        PICKUP_REQUEST | {"account": "nope"},
        key="p-2",
    )
    assert bad.status_code == 404
    checked = _post(
        api,
        "/api/v1/shipping/addresses/validate/",
        {"address": {**ADDRESS_FROM, "city": "memphis"}},
    )
    assert checked.status_code == 200, checked.content
    assert checked.json()["address"]["city"] == "MEMPHIS"
    assert checked.json()["account"] == "post"


@pytest.mark.django_db
def test_the_schema_lists_the_shipping_endpoints(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    for path in (
        "/api/v1/shipping/rates/",
        "/api/v1/shipping/shipments/",
        "/api/v1/shipping/shipments/{public_id}/",
        "/api/v1/shipping/shipments/{public_id}/void/",
        "/api/v1/shipping/pickups/",
        "/api/v1/shipping/pickups/{public_id}/cancel/",
        "/api/v1/shipping/shipments/{public_id}/label/",
        "/api/v1/shipping/addresses/validate/",
    ):
        assert path in paths
    json_body = "application/json"
    validate = paths["/api/v1/shipping/addresses/validate/"]["post"]
    assert validate["requestBody"]["content"][json_body]["examples"]
    assert validate["responses"]["200"]["content"][json_body]["examples"]
    booked = paths["/api/v1/shipping/pickups/"]["post"]["responses"]["201"]
    assert booked["content"][json_body]["examples"]
    void = paths["/api/v1/shipping/shipments/{public_id}/void/"]["post"]
    assert void["responses"]["200"]["content"][json_body]["examples"]
    parcel = paths["/api/v1/shipping/shipments/{public_id}/label/"]["get"]
    assert [p["name"] for p in parcel["parameters"] if p["in"] == "query"] == ["parcel"]


@pytest.mark.django_db
def test_a_lost_answer_is_202_unknown_and_a_refusal_422(api):
    from tests.shipping.test_labels import _quote

    slow = _quote(carrier("slow", lose_label_answers=True))
    unknown = _post(api, SHIPMENTS, {"quote_id": slow.public_id}, key="u-1")
    assert unknown.status_code == 202
    assert unknown.json()["status"] == "unknown"
    assert unknown.json()["label_url"] is None
    refused = _quote(carrier("strict"), service="SBX_NOPE")
    failed = _post(api, SHIPMENTS, {"quote_id": refused.public_id}, key="u-2")
    assert failed.status_code == 422
    assert failed.json()["error"]["code"] == "label_failed"
    assert failed.json()["shipment"]["failure"]["code"] == "invalid_service"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_rates_in_several_currencies_name_theirs_and_are_sorted_within_each(api):
    carrier("us-post", currency="USD", price_factor=2)
    carrier("eu-post", priority=20, currency="EUR", price_factor=0.5)
    carrier("eu-dear", priority=30, currency="EUR", price_factor=1.5)

    answer = _post(api, RATES, RATE_REQUEST).json()

    assert answer["currencies"] == ["EUR", "USD"]
    quotes = answer["quotes"]
    assert [q["currency"] for q in quotes] == ["EUR"] * 6 + ["USD"] * 3
    for currency in answer["currencies"]:
        amounts = [q["amount"] for q in quotes if q["currency"] == currency]
        assert amounts == sorted(amounts)
    cheapest = {q["currency"]: q["account"] for q in quotes if q["cheapest"]}
    assert cheapest == {"EUR": "eu-post", "USD": "us-post"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_a_pickup_names_the_shipments_it_collects(api):
    carrier("post")
    quote = _post(api, RATES, RATE_REQUEST).json()["quotes"][0]
    body = {"quote_id": quote["quote_id"], "order_id": "o-10"}
    bought = _post(api, SHIPMENTS, body, key="buy-10").json()

    pickup = _post(
        api,
        "/api/v1/shipping/pickups/",
        PICKUP_REQUEST | {"account": "post", "shipments": [bought["id"]]},
        key="p-10",
    )

    assert pickup.status_code == 201, pickup.content
    assert pickup.json()["shipments"] == [bought["id"]]
