"""The storefront inventory API: stock, reservations (409 naming the SKU),
confirm/release, scopes and Idempotency-Key."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inventory import services
from inventory.models import Reservation, StockLevel
from inventory.services import LineRequest
from tests.factories import ApiKeyFactory
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/inventory/reservations/"


def _client(*scopes: str) -> APIClient:
    key = ApiKeyFactory(scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


@pytest.fixture
def api() -> APIClient:
    return _client("inventory:read", "inventory:write")


def post(api, url: str, data: dict | None = None, key: str | None = None):
    return api.post(
        url, data or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex
    )


def test_stock_lists_available_per_sku_and_location(api):
    far = LocationFactory(code="FAR", priority=50)
    StockLevelFactory(sku="A", on_hand=5)
    StockLevelFactory(sku="A", location=far, on_hand=2)
    StockLevelFactory(sku="B", on_hand=1)
    StockLevelFactory(sku="C", on_hand=9)
    services.reservation_create(order_id="o", lines=[LineRequest("A", 3)])
    response = api.get("/api/v1/inventory/stock/?sku=A&sku=B")
    assert response.status_code == 200
    rows = [
        (r["sku"], r["location"], r["available"], r["reserved"])
        for r in response.json()["results"]
    ]
    assert sorted(rows) == [
        ("A", "FAR", 2, 0),
        ("A", "MAIN", 2, 3),
        ("B", "MAIN", 1, 0),
    ]


def test_stock_does_not_count_expired_reservations(api):
    StockLevelFactory(sku="A", on_hand=5)
    past = timezone.now() - timedelta(hours=1)
    services.reservation_create(
        order_id="o", lines=[LineRequest("A", 5)], ttl_seconds=60, now=past
    )
    (row,) = api.get("/api/v1/inventory/stock/?sku=A").json()["results"]
    assert (row["available"], row["reserved"]) == (5, 0)


def test_reserve_then_read_confirm(api):
    StockLevelFactory(sku="A", on_hand=5)
    response = post(
        api, URL, {"order_id": "o-1", "lines": [{"sku": "A", "quantity": 2}]}
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"].startswith("res_") and data["status"] == "active"
    assert 850 < data["seconds_left"] <= 900
    assert data["lines"] == [{"sku": "A", "location": "MAIN", "quantity": 2}]
    assert api.get(f"{URL}{data['id']}/").json()["id"] == data["id"]
    confirmed = post(api, f"{URL}{data['id']}/confirm/")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert StockLevel.objects.get(sku="A").on_hand == 3
    again = post(api, f"{URL}{data['id']}/release/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "reservation_confirmed"


def test_shortage_is_409_naming_the_sku_and_available(api):
    StockLevelFactory(sku="A", on_hand=5)
    StockLevelFactory(sku="B", on_hand=1)
    response = post(
        api,
        URL,
        {
            "order_id": "o",
            "lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 3}],
        },
    )
    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "insufficient_stock"
    assert "B" in body["error"]["message"] and "1" in body["error"]["message"]
    assert body["shortage"] == {"sku": "B", "requested": 3, "available": 1}
    assert not Reservation.objects.exists()


def test_release_is_idempotent_and_the_same_key_replays(api):
    StockLevelFactory(sku="A", on_hand=5)
    first = post(
        api, URL, {"order_id": "o", "lines": [{"sku": "A", "quantity": 4}]}, "k1"
    )
    replay = post(
        api, URL, {"order_id": "o", "lines": [{"sku": "A", "quantity": 4}]}, "k1"
    )
    assert replay.json()["id"] == first.json()["id"]
    assert Reservation.objects.count() == 1
    rid = first.json()["id"]
    assert post(api, f"{URL}{rid}/release/").json()["status"] == "released"
    assert post(api, f"{URL}{rid}/release/").status_code == 200
    assert StockLevel.objects.get(sku="A").reserved == 0


def test_bad_input_and_missing_key_are_4xx(api):
    StockLevelFactory(sku="A")
    bad = post(api, URL, {"order_id": "o", "lines": [{"sku": "A", "quantity": 0}]})
    assert bad.status_code == 400 and bad.json()["error"]["param"].startswith("lines")
    ttl = post(
        api,
        URL,
        {"order_id": "o", "lines": [{"sku": "A", "quantity": 1}], "ttl_seconds": 1},
    )
    assert ttl.status_code == 400 and ttl.json()["error"]["param"] == "ttl_seconds"
    no_key = api.post(URL, {"order_id": "o", "lines": []}, format="json")
    assert no_key.status_code == 400
    assert api.get(f"{URL}res_nope/").status_code == 404


def test_scopes_are_enforced():
    StockLevelFactory(sku="A")
    reader = _client("inventory:read")
    assert reader.get("/api/v1/inventory/stock/").status_code == 200
    denied = post(
        reader, URL, {"order_id": "o", "lines": [{"sku": "A", "quantity": 1}]}
    )
    assert denied.status_code == 403
    payments_only = _client("payments:read")
    assert payments_only.get("/api/v1/inventory/stock/").status_code == 403


def test_reservations_list_by_order(api):
    StockLevelFactory(sku="A", on_hand=5)
    services.reservation_create(order_id="o-1", lines=[LineRequest("A", 1)])
    services.reservation_create(order_id="o-2", lines=[LineRequest("A", 1)])
    data = api.get(f"{URL}?order_id=o-2").json()
    assert [r["order_id"] for r in data["results"]] == ["o-2"]
    assert "next" in data


def test_schema_shows_examples_for_every_single_object_operation(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    base = "/api/v1/inventory/reservations/"
    operations = {
        "create": schema["paths"][base]["post"],
        "retrieve": schema["paths"][base + "{public_id}/"]["get"],
        "confirm": schema["paths"][base + "{public_id}/confirm/"]["post"],
        "release": schema["paths"][base + "{public_id}/release/"]["post"],
    }
    for name, operation in operations.items():
        answer = operation["responses"]["200" if name != "create" else "201"]
        examples = answer["content"]["application/json"]["examples"]
        assert examples, name
    confirm = operations["confirm"]["responses"]
    conflict = confirm["409"]["content"]["application/json"]["examples"]
    (example,) = conflict.values()
    assert example["value"]["error"]["code"] == "reservation_released"


def test_a_pinned_line_is_allocated_before_a_free_line_of_the_same_sku(api):
    """MAIN (first by priority) and FAR hold 5 each; an order wants 5 from
    MAIN (click & collect) and 5 more from anywhere. The free line must not
    take MAIN's units first and leave the pinned line short (a false 409)."""
    main = LocationFactory(code="MAIN", priority=10)
    far = LocationFactory(code="FAR", priority=50)
    StockLevelFactory(sku="A", location=main, on_hand=5)
    StockLevelFactory(sku="A", location=far, on_hand=5)
    body = {
        "order_id": "order-1",
        "lines": [
            {"sku": "A", "quantity": 5, "location": "MAIN"},
            {"sku": "A", "quantity": 5},
        ],
    }
    response = post(api, URL, body)
    assert response.status_code == 201, response.json()
    assert sorted(StockLevel.objects.values_list("location__code", "reserved")) == [
        ("FAR", 5),
        ("MAIN", 5),
    ]
