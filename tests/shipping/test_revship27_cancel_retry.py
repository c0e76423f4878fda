"""The past sweep's re-sends of a pickup cancel in doubt, tried to break.

A try was counted whatever became of it: a pickup whose turn came while a
staff or storefront cancel of it was at the carrier (its claim taken after
the sweep read the row) was refused 409 ``cancel_in_progress`` and still
spent one of its five tries; a carrier not reached (connect timeout,
breaker open: nothing went out) spent one too, so a carrier down for a day
left every cancel in doubt ``unknown`` for staff. And one run had no bound
but its row count: with the carrier slow, each re-send taking the shared
client's timeouts, the hourly job outran Q_TIMEOUT (60 s by default) and was
killed mid-send, the past sweep after it never running."""

import time
from datetime import timedelta

import pytest
import requests
import responses

from integrations.breaker import breaker_mode_set
from integrations.clock import database_now
from integrations.errors import Unknown
from integrations.models.accounts import BreakerMode
from shipping import tasks
from shipping.models import Pickup, PickupStatus
from shipping.providers.sandbox import SandboxShippingAdapter
from shipping.services import pickup_cancels
from tests.shipping.helpers import carrier, pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"


def _in_doubt(account, confirmation: str, **values) -> Pickup:
    return scheduled_pickup(
        account,
        confirmation,
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
        **values,
    )


def test_a_pickup_whose_cancel_is_at_the_carrier_spends_no_try(monkeypatch):
    first = _in_doubt(carrier("post"), "PU-FIRST")
    second = _in_doubt(carrier("post2"), "PU-SECOND")
    sent = []

    def lost(self, request):
        sent.append(request.confirmation_number)
        if request.confirmation_number == "PU-FIRST":
            # Meanwhile staff cancel the second: theirs is at the carrier.
            Pickup.objects.filter(pk=second.pk).update(cancel_started_at=database_now())
        self.cancel_going_out(request)
        raise Unknown("read timeout", code="timeout")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", lost)
    assert tasks.mark_past_pickups()["marked_past"] == 0

    assert sent == ["PU-FIRST"]
    assert Pickup.objects.get(pk=first.pk).cancel_retries == 1
    row = Pickup.objects.get(pk=second.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)


def test_a_carrier_not_reached_spends_no_try():
    pickup = _in_doubt(
        ups_account("ups-rev27", breaker_consecutive_failures=50), "2929602E9CP"
    )

    for _ in range(pickup_cancels.CANCEL_RETRIES + 1):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
            mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
            mocked.delete(CANCEL_URL, body=requests.ConnectTimeout("connect timeout"))
            tasks.mark_past_pickups()
        Pickup.objects.filter(pk=pickup.pk).update(cancel_retry_at=database_now())

    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    assert row.cancel_requested_at is not None

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(CANCEL_URL, json=load("ups", "pickup_cancel_response.json"))
        tasks.mark_past_pickups()
    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.CANCELLED


def test_a_breaker_open_try_waits_an_hour_for_the_next_run():
    account = ups_account("ups-rev27b", breaker_consecutive_failures=50)
    pickup = _in_doubt(account, "2929602E9CP")
    breaker_mode_set(account=account, mode=BreakerMode.FORCED_OPEN, actor="ops")
    before = database_now()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        cancel = mocked.delete(CANCEL_URL, json={})
        tasks.mark_past_pickups()
        tasks.mark_past_pickups()  # the same hour: not again

    assert cancel.call_count == 0
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    assert before + timedelta(minutes=59) < row.cancel_retry_at
    assert row.cancel_retry_at < before + timedelta(minutes=61)


def test_one_run_stops_taking_pickups_once_its_time_is_spent(monkeypatch, settings):
    pickups = [_in_doubt(carrier(f"post{n}"), f"PU-SLOW{n}") for n in range(3)]
    sent = []

    def slow(self, request):
        sent.append(request.confirmation_number)
        self.cancel_going_out(request)
        time.sleep(0.2)  # the run's time (half the task's timeout) is spent
        raise Unknown("read timeout", code="timeout")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", slow)
    # Q_TIMEOUT kills a longer task, the past sweep after these with it.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 0.2}
    tasks.mark_past_pickups()
    assert sent == ["PU-SLOW0"]

    tasks.mark_past_pickups()  # the rest on the next runs, none forgotten
    tasks.mark_past_pickups()
    assert sent == ["PU-SLOW0", "PU-SLOW1", "PU-SLOW2"]
    assert [Pickup.objects.get(pk=p.pk).cancel_retries for p in pickups] == [1] * 3
