"""The past sweep's re-sends of a pickup cancel in doubt (the take leases the
row, the try counted as the cancel goes out), tried to break.

Once the run's time (Q_TIMEOUT/2) was spent with nothing sent yet (the
carrier unreachable, each try given back), the sweep went on taking
pickups: the next one was leased, claimed and counted as going out, and the
shared client, its deadline passed, refused the call before any byte left
(``deadline_exceeded``). That refusal was not read as "nothing sent", so
the try was spent: a carrier outage burnt a try per run, and with the five
spent the pickup ended ``unknown`` for staff. The same for a try whose
deadline passed while its token was fetched, and for the client's other
refusals before sending (its concurrency limit)."""

import json
import time
from datetime import timedelta

import pytest
import requests
import responses

from integrations.clock import database_now
from shipping.models import Pickup, PickupStatus
from shipping.services import pickup_cancels
from tests.shipping.helpers import pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"


def _in_doubt(account, confirmation: str) -> Pickup:
    return scheduled_pickup(
        account,
        confirmation,
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
    )


def _tries(*pickups: Pickup) -> list[tuple[str, int]]:
    rows = [Pickup.objects.get(pk=p.pk) for p in pickups]
    return [(row.status, row.cancel_retries) for row in rows]


def test_a_run_whose_time_is_spent_with_nothing_sent_takes_no_more(settings):
    account = ups_account("ups-rev31a", breaker_consecutive_failures=50)
    first = _in_doubt(account, "2929602E9CP")
    second = _in_doubt(account, "2929602E9CQ")
    # The run's time, half the task's timeout, is 1 s: what comes before the
    # first call (its token, the rows) fits in it on a loaded machine (0.2 s
    # did not, and the first pickup was refused unsent).
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 2}

    def unreachable(request):
        time.sleep(1.1)  # a connect timeout spending the run's time
        raise requests.ConnectTimeout("connect timeout")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.add_callback(responses.DELETE, CANCEL_URL, callback=unreachable)
        assert pickup_cancels.pickup_cancels_retry() == 0

    assert len(cancel.calls) == 1  # the second waits for the next run
    assert _tries(first, second) == [(PickupStatus.SCHEDULED, 0)] * 2


def test_a_try_whose_deadline_passes_before_it_is_sent_is_given_back(settings):
    pickup = _in_doubt(
        ups_account("ups-rev31b", breaker_consecutive_failures=50), "2929602E9CP"
    )
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 0.4}

    def slow_token(request):
        time.sleep(0.3)  # the run's time spent fetching the token
        return 200, {}, json.dumps(load("ups", "oauth_token.json"))

    before = database_now()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_callback(responses.POST, TOKEN_URL, callback=slow_token)
        cancel = mocked.delete(CANCEL_URL, json={})
        assert pickup_cancels.pickup_cancels_retry() == 0

    assert len(cancel.calls) == 0  # nothing left: the client refused it
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    # Given back: the next run, an hour on, sends it.
    assert before + timedelta(minutes=59) < row.cancel_retry_at
