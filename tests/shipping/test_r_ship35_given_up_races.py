"""Review of ship35: a cancel in doubt on an unusable account, its day gone,
is left ``unknown`` only on the row as the run read it. A cancel by hand
that claims the row (at the carrier now) or went out (the reason cleared)
after the run read it must not be given up under it, nor staff told twice:
the give-up's own guards, which no test pinned."""

import logging
from datetime import timedelta

import pytest
import responses

from integrations.clock import database_now
from integrations.models import ProviderAccount
from shipping import tasks
from shipping.models import Pickup, PickupStatus
from shipping.services import pickup_cancel_retry
from shipping.services.pickup_cancels import pickup_cancels_retry
from tests.shipping.helpers import pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"
GIVEN_UP = (
    "pickup cancel in doubt not re-sent: its day passed and its carrier "
    "account cannot be used; settle it by hand"
)


@pytest.fixture
def noted() -> Pickup:
    """In doubt, its account's 401 noted while its day was to come; the day
    then gone and a re-send due."""
    ups: ProviderAccount = ups_account(
        "ups-rs35", breaker_consecutive_failures=50, breaker_min_calls=100
    )
    pickup = scheduled_pickup(
        ups,
        "2929602E9CP",
        pickup_date=pickup_day(0),
        cancel_requested_at=database_now() - timedelta(hours=3),
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(
            CANCEL_URL, status=401, json=load("ups", "error_unauthorized.json")
        )
        tasks.mark_past_pickups()
    Pickup.objects.filter(pk=pickup.pk).update(
        pickup_date=pickup_day(-2),
        cancel_retry_at=database_now() - timedelta(minutes=1),
    )
    row = Pickup.objects.get(pk=pickup.pk)
    assert row.failure_message.startswith("our cancel in doubt cannot be done")
    return row


def _meanwhile(monkeypatch, **row) -> None:
    # Another process writes the row after this run read it.
    day_gone = pickup_cancel_retry.day_gone

    def then(pickup: Pickup) -> bool:
        Pickup.objects.filter(pk=pickup.pk).update(**row)
        return day_gone(pickup)

    monkeypatch.setattr(pickup_cancel_retry, "day_gone", then)


def _errors(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("shipping") and r.levelno >= logging.ERROR
    ]


def test_a_cancel_by_hand_at_the_carrier_now_is_not_given_up_under_it(
    noted, monkeypatch, caplog
):
    _meanwhile(monkeypatch, cancel_started_at=database_now())  # its claim

    with caplog.at_level(logging.INFO), responses.RequestsMock() as mocked:
        assert pickup_cancels_retry() == 0
        assert len(mocked.calls) == 0

    row = Pickup.objects.get(pk=noted.pk)
    assert row.status == PickupStatus.SCHEDULED  # left to that cancel
    assert row.failure_message == noted.failure_message
    assert _errors(caplog) == []


def test_a_reason_a_cancel_by_hand_cleared_meanwhile_is_not_given_up(
    noted, monkeypatch, caplog
):
    # Its cancel went out (the account mended) and its answer was lost.
    _meanwhile(monkeypatch, failure_message="")

    with caplog.at_level(logging.INFO), responses.RequestsMock() as mocked:
        assert pickup_cancels_retry() == 0
        assert len(mocked.calls) == 0

    row = Pickup.objects.get(pk=noted.pk)
    assert (row.status, row.failure_message) == (PickupStatus.SCHEDULED, "")
    assert _errors(caplog) == []
    monkeypatch.undo()

    # Nothing says the account is unusable now: re-sent as any, a try spent.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(CANCEL_URL, status=500, json={})
        assert pickup_cancels_retry() == 1
    assert cancel.call_count == 1
    row = Pickup.objects.get(pk=noted.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 1)
