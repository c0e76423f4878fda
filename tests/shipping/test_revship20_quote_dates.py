"""Review of ship20's ``ship_date_passed``: the day boundary is the one the
quote was checked against (yesterday in UTC at the earliest), so a quote
for the day bought minutes after UTC midnight is still bought; a quote
another key's label holds is answered with that label (409 ``quote_bought``
/ ``label_in_progress`` naming the shipment), never "shop rates again"
(ship date passed, quote expired, account disabled), which would have the
shop buy a second label; the schema names the 409s."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from shipping.models import RateQuote, SandboxLabel, Shipment, ShipmentStatus
from shipping.providers import validation
from tests.shipping.helpers import api_client, carrier, shop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
SHIPMENTS = "/api/v1/shipping/shipments/"


@pytest.fixture
def api() -> APIClient:
    return api_client("shipping:read", "shipping:write")


def _buy(api, quote_id, key):
    body = {"quote_id": quote_id}
    return api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _clock_at(monkeypatch, moment: datetime) -> None:
    """The date checks (quote and buy) read the database's clock
    (``validation.database_now``)."""
    monkeypatch.setattr(validation, "database_now", lambda: moment)


def _date_passed(quote_id: str) -> None:
    quote = RateQuote.objects.get(public_id=quote_id)
    past = datetime.now(UTC).date() - timedelta(days=3)
    quote.request = {**quote.request, "ship_date": past.isoformat()}
    quote.save(update_fields=["request"])


@pytest.mark.parametrize("days_back", [0, 1])
def test_a_quote_for_the_day_is_bought_minutes_after_utc_midnight(
    api, monkeypatch, days_back
):
    today = datetime.now(UTC).date()
    carrier("post")
    quoted_at = datetime.combine(today, datetime.min.time(), UTC) - timedelta(minutes=2)
    _clock_at(monkeypatch, quoted_at)
    day = quoted_at.date() - timedelta(days=days_back)
    quote_id = shop(ship_date=day).quotes[0].quote_id
    _clock_at(monkeypatch, quoted_at + timedelta(minutes=7))

    answer = _buy(api, quote_id, "buy-midnight")

    if days_back == 0:
        # Quoted for its day in UTC: still within "yesterday" after midnight.
        assert answer.status_code == 201, answer.content
    else:
        # Quoted for yesterday, the earliest allowed: that day is now gone.
        assert answer.status_code == 409, answer.content
        assert answer.json()["error"]["code"] == "ship_date_passed"


def test_a_quote_another_keys_label_bought_names_it_after_its_date_passed(api):
    carrier("post")
    quote_id = shop().quotes[0].quote_id
    first = _buy(api, quote_id, "buy-first")
    assert first.status_code == 201, first.content
    _date_passed(quote_id)

    # The storefront lost its key and retries under a new one.
    again = _buy(api, quote_id, "buy-second")

    assert again.status_code == 409, again.content
    error = again.json()["error"]
    assert error["code"] == "quote_bought"
    assert first.json()["id"] in error["message"]
    assert SandboxLabel.objects.count() == 1


def test_a_quote_whose_label_may_exist_says_poll_it_after_its_date_passed(api):
    carrier("post")
    quote_id = shop().quotes[0].quote_id
    first = _buy(api, quote_id, "buy-first")
    Shipment.objects.filter(public_id=first.json()["id"]).update(
        status=ShipmentStatus.UNKNOWN
    )
    _date_passed(quote_id)

    again = _buy(api, quote_id, "buy-second")

    assert again.status_code == 409, again.content
    assert again.json()["error"]["code"] == "label_in_progress"
    assert Shipment.objects.count() == 1


def test_the_schema_names_the_409s_of_a_label_buy():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    refused = schema["paths"][SHIPMENTS]["post"]["responses"]["409"]
    for code in (
        "ship_date_passed",
        "quote_expired",
        "account_disabled",
        "quote_bought",
        "label_in_progress",
    ):
        assert code in refused["description"], code


@pytest.mark.parametrize("gone", ["expired", "account_disabled"])
def test_a_bought_quote_is_named_after_it_expired_or_its_account_was_disabled(
    api, gone
):
    # The same harm as a passed ship date: "shop rates again" while the
    # quote's label exists has the shop buy a second one.
    account = carrier("post")
    quote_id = shop().quotes[0].quote_id
    first = _buy(api, quote_id, "buy-first")
    assert first.status_code == 201, first.content
    if gone == "expired":
        RateQuote.objects.filter(public_id=quote_id).update(
            expires_at=datetime.now(UTC) - timedelta(hours=1)
        )
    else:
        account.enabled = False
        account.save(update_fields=["enabled"])

    again = _buy(api, quote_id, "buy-second")

    assert again.status_code == 409, again.content
    assert again.json()["error"]["code"] == "quote_bought"
    assert SandboxLabel.objects.count() == 1
