"""The schema declares what the server enforces (issue 17, part 4): the
Idempotency-Key's length and characters, ISO 4217 currencies, amount bounds."""

import re
import uuid

import pytest
from rest_framework.test import APIClient

from integrations import money

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema() -> dict:
    return APIClient().get("/api/schema/", {"format": "json"}).json()


def key_schema(schema: dict) -> dict:
    operation = schema["paths"]["/api/v1/payments/"]["post"]
    (header,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    return header["schema"]


def create_body(schema: dict) -> dict:
    ref = schema["paths"]["/api/v1/payments/"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]


def post(api, key: str, **body):
    values = {
        "order_id": "o-1",
        "amount": 100,
        "currency": "EUR",
        "source_token": "tok_success",
    }
    values.update(body)
    return api.post(
        "/api/v1/payments/", values, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("a", True),
        ("order 17 / try 2", True),
        ("k" * 255, True),
        ("k" * 256, False),
        ("   ", False),
        ("tab\there", False),
        ("caf\u00e9", False),
    ],
)
def test_idempotency_key_rules_are_declared_and_enforced(
    schema, api, primary, key, valid
):
    declared = key_schema(schema)
    assert (declared["minLength"], declared["maxLength"]) == (1, 255)
    pattern = re.compile(declared["pattern"])
    fits = declared["minLength"] <= len(key) <= declared["maxLength"] and bool(
        pattern.match(key)
    )
    assert fits is valid
    if "\t" in key or not key.isascii():
        return  # not sendable as an HTTP header value by the test client
    response = post(api, key)
    assert (response.status_code < 400) is valid, response.content


def test_currency_is_declared_as_an_iso_4217_code(schema, api, primary):
    currency = create_body(schema)["currency"]
    ref = currency["allOf"][0]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["enum"]) == set(money.EXPONENTS)
    assert post(api, uuid.uuid4().hex, currency="XXQ").status_code == 400


def test_amount_declares_its_bounds(schema):
    amount = create_body(schema)["amount"]
    assert (amount["minimum"], amount["maximum"]) == (1, money.MAX_AMOUNT_ANY)
