"""NetSuite purchase-order rates, reviewed: each line's rate goes out as an
exact JSON number in the currency's own decimals (0, 2 or 3), through the
project's exact encoder (``HttpAdapter.exact_json_numbers``) rather than JSON
text spliced by hand."""

import json
from dataclasses import replace
from decimal import Decimal

import pytest
import responses

from integrations.providers import http
from inventory.providers.netsuite import NetSuiteAdapter
from tests.inventory.contract import harness_netsuite as ns

pytestmark = pytest.mark.django_db


@pytest.fixture
def adapter() -> NetSuiteAdapter:
    return NetSuiteAdapter(ns.make_account())


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _put(rsps):
    return next(c.request for c in rsps.calls if c.request.method == "PUT")


def test_the_order_body_goes_through_the_shared_exact_encoder(
    adapter, rsps, monkeypatch
):
    encoded = []

    def spy(body):
        encoded.append(body)
        return json_bytes(body)

    json_bytes = http.json_bytes
    monkeypatch.setattr(http, "json_bytes", spy)
    request = ns.po_create_idempotent(rsps, adapter.account)

    adapter.purchase_order_upsert(request)

    bodies = [body for body in encoded if "externalId" in body]
    assert len(bodies) == 1
    rates = [line["rate"] for line in bodies[0]["item"]["items"]]
    assert rates == [Decimal("12.50"), Decimal("12.50")]


@pytest.mark.parametrize(
    ("currency", "costs", "sent"),
    [
        ("JPY", (1250, 7), ["1250", "7"]),
        ("KWD", (12345, 1), ["12.345", "0.001"]),
        ("USD", (1, 123456789012), ["0.01", "1234567890.12"]),
    ],
)
def test_every_line_rate_is_exact_in_the_currency_decimals(
    adapter, rsps, currency, costs, sent
):
    request = ns.po_create_idempotent(rsps, adapter.account)
    lines = tuple(
        replace(line, unit_cost=cost)
        for line, cost in zip(request.lines, costs, strict=True)
    )
    request = replace(request, currency=currency, lines=lines)

    adapter.purchase_order_upsert(request)

    put = _put(rsps)
    text = put.body.decode() if isinstance(put.body, bytes) else put.body
    body = json.loads(text, parse_float=Decimal)
    assert [line["rate"] for line in body["item"]["items"]] == [
        Decimal(value) for value in sent
    ]
    for value in sent:  # digit for digit, no float's rounding or exponent
        assert f": {value}" in text or f":{value}" in text


def test_a_line_without_a_cost_carries_no_rate_and_the_others_keep_theirs(
    adapter, rsps
):
    request = ns.po_create_idempotent(rsps, adapter.account)
    first, second = request.lines
    lines = (replace(first, unit_cost=0), replace(second, unit_cost=999))
    request = replace(request, lines=lines)

    adapter.purchase_order_upsert(request)

    body = json.loads(_put(rsps).body, parse_float=Decimal)
    items = body["item"]["items"]
    assert "rate" not in items[0]
    assert items[1]["rate"] == Decimal("9.99")
    assert [line["quantity"] for line in items] == [10, 5]
