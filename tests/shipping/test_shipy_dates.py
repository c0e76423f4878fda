"""Pickup and ship dates a carrier would refuse (in the past, or years
ahead: 9999-12-31) are refused at our API as a 400 naming the field, before
any pickup row or carrier call; the sandbox took them (and crashed adding
business days to 9999-12-31). The schema says the window."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from shipping.api_examples import PICKUP_REQUEST, RATE_REQUEST
from shipping.models import Pickup
from shipping.providers.validation import MAX_PICKUP_DAYS_AHEAD, MAX_SHIP_DAYS_AHEAD
from tests.shipping.helpers import api_client, carrier

pytestmark = pytest.mark.django_db
PICKUPS = "/api/v1/shipping/pickups/"
RATES = "/api/v1/shipping/rates/"


def _today():
    return datetime.now(UTC).date()


@pytest.fixture
def api() -> APIClient:
    return api_client("shipping:read", "shipping:write")


def _pickup(api, day, key="p-date"):
    body = PICKUP_REQUEST | {"account": "post", "pickup_date": str(day)}
    return api.post(PICKUPS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _refused(answer, param):
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["param"] == param
    assert param in error["message"]


@pytest.mark.parametrize(
    "day",
    [
        "9999-12-31",
        _today() + timedelta(days=MAX_PICKUP_DAYS_AHEAD + 1),
        _today() - timedelta(days=2),
        "2020-01-01",
    ],
)
def test_a_pickup_date_no_carrier_takes_is_a_400_naming_it(api, day):
    carrier("post")
    _refused(_pickup(api, day), "pickup_date")
    assert not Pickup.objects.exists()


@pytest.mark.parametrize(
    "days", [-1, 0, 1, MAX_PICKUP_DAYS_AHEAD], ids=["yesterday", "today", "1", "max"]
)
def test_a_pickup_date_within_the_window_is_booked(api, days):
    # Yesterday in UTC is today where the day starts later (the Americas).
    carrier("post")
    answer = _pickup(api, _today() + timedelta(days=days))
    assert answer.status_code == 201, answer.content


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
@pytest.mark.parametrize(
    "day",
    [
        "9999-12-31",
        _today() + timedelta(days=MAX_SHIP_DAYS_AHEAD + 1),
        _today() - timedelta(days=2),
    ],
)
def test_a_ship_date_no_carrier_takes_is_a_400_naming_it(api, day):
    carrier("post")
    answer = api.post(RATES, RATE_REQUEST | {"ship_date": str(day)}, format="json")
    _refused(answer, "ship_date")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
@pytest.mark.parametrize("days", [-1, 0, MAX_SHIP_DAYS_AHEAD])
def test_a_ship_date_within_the_window_is_quoted(api, days):
    carrier("post")
    day = _today() + timedelta(days=days)
    answer = api.post(RATES, RATE_REQUEST | {"ship_date": str(day)}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["quotes"] and not answer.json()["failures"]


def _body_field(schema: dict, path: str, field: str) -> dict:
    op = schema["paths"][path]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"][field]


def test_the_schema_states_the_date_windows():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    pickup = _body_field(schema, "/api/v1/shipping/pickups/", "pickup_date")
    ship = _body_field(schema, "/api/v1/shipping/rates/", "ship_date")
    assert f"{MAX_PICKUP_DAYS_AHEAD} days" in pickup["description"]
    assert f"{MAX_SHIP_DAYS_AHEAD} days" in ship["description"]


def test_staff_scheduling_a_pickup_for_a_past_day_see_the_form_error(admin_client):
    from tests.shipping.helpers import bought_shipment
    from tests.shipping.test_admin_pickups import _act, _when

    shipment = bought_shipment(carrier("post"), 1)
    chosen = _act(admin_client, shipment)
    past = (_today() - timedelta(days=3)).isoformat()

    page = admin_client.post(chosen.url, {**_when(pickup_date=past), "key": "k1"})

    assert page.status_code == 200
    assert page.context["form"].errors["pickup_date"]
    assert not Pickup.objects.exists()
