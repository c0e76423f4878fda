"""A carrier's rate whose service code or rate id cannot be stored (a
NUL, which PostgreSQL refuses in text; longer than its column): that rate
is dropped with a log line, as an unusable price is, and the carrier's
others and every other carrier's quotes are offered. Was: a DataError
storing the quotes, every carrier's quotes lost and a 500 at the API."""

import copy
import logging

import pytest
import responses

from shipping import services
from shipping.models import RateQuote
from shipping.providers.answers import RATE_LIMITS
from tests.shipping.contract import harness_shippo
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import carrier
from tests.shipping.providers.wire import load

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def _shop(rate_fields: dict) -> services.RateShopResult:
    harness_shippo.make_account()
    carrier("post", priority=5)
    body = copy.deepcopy(load("shippo", "shipment_rates.json"))
    first = body["rates"][0]
    for field, value in rate_fields.items():
        if field == "object_id":
            first[field] = value
        else:
            first["servicelevel"][field] = value
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{harness_shippo.BASE}/shipments", status=201, json=body)
        return services.rates_shop(request=shared.rate_request())


@pytest.mark.parametrize(
    "fields",
    [
        {"token": "usps_\x00priority", "extended_token": "usps_\x00priority"},
        {"token": "u" * 65, "extended_token": "u" * 65},
        {"object_id": "e" * 129},
    ],
    ids=["nul code", "long code", "long rate id"],
)
def test_a_rate_that_cannot_be_stored_is_dropped_alone(caplog, fields):
    caplog.set_level(logging.WARNING, logger="shipping.providers")
    shippo_rates = len(load("shippo", "shipment_rates.json")["rates"])

    result = _shop(fields)

    shippo = [q for q in result.quotes if q.account != "post"]
    assert len(shippo) == shippo_rates - 1
    assert any(q.account == "post" for q in result.quotes)
    assert result.failures == ()
    assert RateQuote.objects.count() == len(result.quotes)
    assert any("carrier rate dropped" in r.getMessage() for r in caplog.records)


def test_a_carrier_whose_every_rate_cannot_be_stored_fails_alone():
    body = copy.deepcopy(load("shippo", "shipment_rates.json"))
    for rate in body["rates"]:
        rate["servicelevel"]["token"] = "\x00"
        rate["servicelevel"]["extended_token"] = "\x00"
    harness_shippo.make_account()
    carrier("post", priority=5)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{harness_shippo.BASE}/shipments", status=201, json=body)
        result = services.rates_shop(request=shared.rate_request())

    assert {q.account for q in result.quotes} == {"post"}
    assert [f.code for f in result.failures] == ["malformed_response"]


def test_the_rate_limits_are_the_quote_columns():
    for field, limit in RATE_LIMITS.items():
        assert RateQuote._meta.get_field(field).max_length == limit, field
