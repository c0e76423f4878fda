"""The exact JSON encoder: decimals leave exactly as written, never
through a float."""

import json
from decimal import Decimal
from typing import ClassVar

import pytest
import responses

from integrations.json_numbers import json_bytes
from integrations.providers.base import HealthResult
from integrations.providers.http import HttpAdapter
from tests.factories import ProviderAccountFactory


def test_decimals_are_json_numbers_digit_for_digit():
    body = {"a": Decimal("19.99"), "b": [Decimal("0.10"), Decimal("1E+1")], "c": 3}

    encoded = json_bytes(body)

    assert encoded == b'{"a": 19.99, "b": [0.10, 10], "c": 3}'
    assert json.loads(encoded, parse_float=Decimal)["a"] == Decimal("19.99")


def test_strings_booleans_and_nulls_are_plain_json():
    encoded = json_bytes({"name": 'Zoë "Q"', "ok": True, "gone": None, "t": ("x",)})

    assert json.loads(encoded) == {
        "name": 'Zoë "Q"',
        "ok": True,
        "gone": None,
        "t": ["x"],
    }


@pytest.mark.parametrize("value", [19.99, Decimal("NaN"), Decimal("Infinity")])
def test_floats_and_non_numbers_are_refused(value):
    with pytest.raises((TypeError, ValueError)):
        json_bytes({"amount": value})


class _ExactAdapter(HttpAdapter):
    kind = "shipping"
    code = "exact"
    display_name = "Exact"
    base_urls: ClassVar[dict[str, str]] = {"test": "https://exact.test"}
    idempotency_header = "Idempotency-Key"
    idempotency_body_field = "request_id"
    exact_json_numbers = True

    def health_check(self) -> HealthResult:  # pragma: no cover - not called
        return HealthResult(ok=True)


@pytest.mark.django_db
def test_an_adapter_with_exact_numbers_sends_them_and_keeps_its_body_key():
    account = ProviderAccountFactory(kind="shipping", provider="exact")
    body = {"request_id": "req-7", "amount": Decimal("19.99")}
    with responses.RequestsMock() as mocked:
        mocked.post("https://exact.test/labels", json={"ok": True})
        _ExactAdapter(account).send(
            "POST", "/labels", operation="exact_label", json=body
        )
        (call,) = mocked.calls

    assert call.request.body == b'{"request_id": "req-7", "amount": 19.99}'
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.headers["Idempotency-Key"] == "req-7"
