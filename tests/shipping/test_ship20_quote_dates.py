"""A quote's ship_date is checked when quoted and again when its label is
bought: a quote bought after its ship date passed (bought after midnight,
or kept for days under a long SHIPPING_QUOTE_TTL_SECONDS) is refused with a
409 ``ship_date_passed`` telling the shop to shop rates again, before any
shipment row or carrier call; the date is never moved for the shop (the
quote's price and delivery estimate were the carrier's for that day)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from integrations.models import ProviderCall
from shipping.models import RateQuote, SandboxLabel, Shipment
from shipping.providers.validation import MAX_SHIP_DAYS_AHEAD
from tests.shipping.helpers import api_client, carrier, shop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
SHIPMENTS = "/api/v1/shipping/shipments/"


def _today():
    return datetime.now(UTC).date()


@pytest.fixture
def api() -> APIClient:
    return api_client("shipping:read", "shipping:write")


def _quote_dated(ship_date) -> RateQuote:
    """A quote shopped for ``ship_date`` (yesterday in UTC: the earliest
    allowed), then kept until its date is past (as a day passing would)."""
    carrier("post")
    quoted = shop(ship_date=_today() - timedelta(days=1)).quotes[0]
    quote = RateQuote.objects.get(public_id=quoted.quote_id)
    quote.request = {**quote.request, "ship_date": ship_date.isoformat()}
    quote.save(update_fields=["request"])
    return quote


def _buy(api, quote, key="buy-old"):
    body = {"quote_id": quote.public_id}
    return api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize("days_back", [2, 5])
def test_a_quote_whose_ship_date_has_passed_is_refused_to_shop_again(api, days_back):
    quote = _quote_dated(_today() - timedelta(days=days_back))
    calls = ProviderCall.objects.count()

    answer = _buy(api, quote)

    assert answer.status_code == 409, answer.content
    error = answer.json()["error"]
    assert error["code"] == "ship_date_passed"
    assert error["param"] == "quote_id"
    assert "ship_date" in error["message"]
    assert "shop rates again" in error["message"]
    assert not Shipment.objects.exists()
    assert not SandboxLabel.objects.exists()
    assert ProviderCall.objects.count() == calls


def test_a_quote_dated_further_ahead_than_carriers_book_is_refused(api):
    # Only a stored request written by hand (or an older release) gets here:
    # the sandbox would add business days to 9999-12-31 and overflow.
    quote = _quote_dated(date.max)
    answer = _buy(api, quote)
    assert answer.status_code == 409, answer.content
    assert answer.json()["error"]["code"] == "ship_date_passed"
    assert not Shipment.objects.exists()


@pytest.mark.parametrize("days", [-1, 0, MAX_SHIP_DAYS_AHEAD])
def test_a_quote_within_the_window_is_bought(api, days):
    quote = _quote_dated(_today() + timedelta(days=days))
    answer = _buy(api, quote)
    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "purchased"


def test_a_replay_of_a_bought_label_is_answered_after_its_date_passed(api):
    # The idempotent replay answers what was bought; nothing is bought again.
    quote = _quote_dated(_today())
    first = _buy(api, quote, key="buy-kept")
    assert first.status_code == 201, first.content
    quote.request = {**quote.request, "ship_date": "2020-01-01"}
    quote.save(update_fields=["request"])
    again = _buy(api, quote, key="buy-kept")
    assert again.json()["id"] == first.json()["id"]
    assert SandboxLabel.objects.count() == 1
