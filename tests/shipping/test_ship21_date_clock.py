"""The ship and pickup date window (yesterday in UTC to N days ahead) read
this machine's clock while a quote's expiry reads the database's
(``integrations.clock``): a web process whose clock is off took a date the
window refuses, refused one it takes, and refused to buy a live quote as
"ship date passed". The window is on the database's clock too."""

import contextlib
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from shipping import codec, services
from shipping.models import Pickup, ShipmentStatus
from shipping.providers.validation import (
    MAX_PICKUP_DAYS_AHEAD,
    MAX_SHIP_DAYS_AHEAD,
    InvalidShippingRequest,
)
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote
from tests.shipping.test_pickups import _request

pytestmark = pytest.mark.django_db

TWO_DAYS = timedelta(days=2).total_seconds()


@pytest.fixture(autouse=True)
def _two_machines() -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")


@contextlib.contextmanager
def _machine(seconds: float) -> Iterator[None]:
    """A process on a machine ``seconds`` off: ``timezone.now`` and the
    ``datetime`` class shipping's modules imported by name both read it."""

    class Skewed(datetime):
        @classmethod
        def now(cls, tz=None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + timedelta(seconds=seconds)

    with whole_machine_clock(seconds), contextlib.ExitStack() as patches:
        for name, module in list(sys.modules.items()):
            ours = name.split(".")[0] == "shipping"
            if ours and vars(module).get("datetime") is datetime:
                patches.enter_context(mock.patch.object(module, "datetime", Skewed))
        yield


def _database_today() -> date:
    return database_now().astimezone(UTC).date()


def _quote_for(day: date):
    request = codec.request_to_json(requests.rate_request(ship_date=day))
    return _quote(
        carrier("post"),
        request=request,
        expires_at=database_now() + timedelta(minutes=5),
    )


def test_a_live_quote_for_yesterday_is_bought_on_a_machine_two_days_ahead() -> None:
    quote = _quote_for(_database_today() - timedelta(days=1))

    with _machine(TWO_DAYS):
        shipment = services.shipment_buy(quote_id=quote.public_id)

    assert shipment.status == ShipmentStatus.PURCHASED


def test_a_quote_whose_day_passed_is_refused_on_a_machine_two_days_behind() -> None:
    quote = _quote_for(_database_today() - timedelta(days=2))

    with _machine(-TWO_DAYS), pytest.raises(services.ShippingError) as refused:
        services.shipment_buy(quote_id=quote.public_id)

    assert refused.value.code == "ship_date_passed"
    assert str(_database_today() - timedelta(days=1)) in refused.value.message


@pytest.mark.parametrize(
    ("skew", "days"),
    [(-TWO_DAYS, -2), (TWO_DAYS, MAX_SHIP_DAYS_AHEAD + 1)],
    ids=["behind-past", "ahead-too-far"],
)
def test_a_ship_date_outside_the_databases_window_is_refused(skew, days) -> None:
    day = _database_today() + timedelta(days=days)

    with _machine(skew), pytest.raises(InvalidShippingRequest) as refused:
        services.rates_shop(request=requests.rate_request(ship_date=day))

    assert refused.value.param == "ship_date"


@pytest.mark.parametrize(
    ("skew", "days"),
    [(-TWO_DAYS, -2), (TWO_DAYS, MAX_PICKUP_DAYS_AHEAD + 1)],
    ids=["behind-past", "ahead-too-far"],
)
def test_a_pickup_date_outside_the_databases_window_is_refused(skew, days) -> None:
    day = _database_today() + timedelta(days=days)

    with _machine(skew), pytest.raises(InvalidShippingRequest) as refused:
        services.pickup_schedule(
            account=carrier("post"), request=_request(pickup_date=day)
        )

    assert refused.value.param == "pickup_date"
    assert not Pickup.objects.exists()
