"""The hourly re-send of a pickup cancel in doubt, on an account this deploy
cannot call at all: a retired provider, credentials missing, credentials no
configured key opens. A configuration fault, not an outage: nothing was
sent, yet each hour spent a try, and after five the cancel went to staff as
"unknown", the real reason never said. Now no try is counted, staff see the
reason on the pickup at once (``failure_message``, its admin page), it is
logged once, and the re-sends resume by themselves once the account is
mended."""

import html
import logging
from datetime import timedelta

import pytest
import responses

from integrations.clock import database_now
from integrations.models import Event, ProviderAccount
from shipping import tasks
from shipping.models import Pickup, PickupStatus
from shipping.services.pickup_cancels import CANCEL_RETRIES
from tests.shipping.helpers import pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"
FAULTS = {
    # What breaks the account, and the words staff read on the pickup.
    "retired": ({"provider": "retired-carrier"}, "retired-carrier"),
    "missing": ({"credentials_encrypted": ""}, "'client_id' is not set"),
    "undecryptable": (
        {"credentials_encrypted": "gAAAAABnot-a-token"},
        "cannot be decrypted",
    ),
}


@pytest.fixture
def in_doubt() -> Pickup:
    account = ups_account("ups-s33", breaker_consecutive_failures=50)
    return scheduled_pickup(
        account,
        "2929602E9CP",
        # Its day to come: once passed, an unusable account's cancel in doubt
        # is left to staff (test_ship35_cancel_unusable_day_passed).
        pickup_date=pickup_day(1),
        cancel_requested_at=database_now() - timedelta(days=3),
    )


def _an_hour_on(pickup: Pickup) -> None:
    Pickup.objects.filter(pk=pickup.pk).update(
        cancel_retry_at=database_now() - timedelta(minutes=1)
    )


def _broken(pickup: Pickup, fault: str) -> dict:
    account = ProviderAccount.objects.filter(pk=pickup.account_id)
    kept = account.values("provider", "credentials_encrypted").get()
    account.update(**FAULTS[fault][0])
    return kept


def _staff_logs(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith("shipping") and r.levelno >= logging.ERROR
    ]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_configuration_fault_spends_no_try_and_says_why_once(
    in_doubt, fault, caplog, admin_client
):
    _broken(in_doubt, fault)

    with caplog.at_level(logging.INFO), responses.RequestsMock() as mocked:
        for _ in range(CANCEL_RETRIES + 1):
            tasks.mark_past_pickups()
            _an_hour_on(in_doubt)
        assert len(mocked.calls) == 0  # nothing went out

    row = Pickup.objects.get(pk=in_doubt.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    assert row.cancel_requested_at is not None  # still in doubt
    assert FAULTS[fault][1] in row.failure_message
    assert "ups-secret" not in row.failure_message
    said = _staff_logs(caplog)
    assert [r.getMessage() for r in said] == [
        "pickup cancel not re-sent: its carrier account cannot be used; mend it"
    ]
    assert said[0].pickup_id == in_doubt.public_id
    page = admin_client.get(f"/admin/shipping/pickup/{in_doubt.pk}/change/")
    assert html.escape(FAULTS[fault][1]) in page.content.decode()


@pytest.mark.parametrize("fault", FAULTS)
def test_the_re_sends_resume_once_the_account_is_mended(in_doubt, fault):
    kept = _broken(in_doubt, fault)
    with responses.RequestsMock():
        tasks.mark_past_pickups()
    ProviderAccount.objects.filter(pk=in_doubt.account_id).update(**kept)
    _an_hour_on(in_doubt)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(
            CANCEL_URL, json=load("ups", "pickup_cancel_response.json")
        )
        tasks.mark_past_pickups()

    assert cancel.call_count == 1
    row = Pickup.objects.get(pk=in_doubt.pk)
    assert (row.status, row.failure_message) == (PickupStatus.CANCELLED, "")
    assert Event.objects.filter(name="pickup.cancelled").count() == 1


def test_a_try_that_goes_out_clears_the_stale_reason(in_doubt):
    kept = _broken(in_doubt, "missing")
    with responses.RequestsMock():
        tasks.mark_past_pickups()
    ProviderAccount.objects.filter(pk=in_doubt.account_id).update(**kept)
    _an_hour_on(in_doubt)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(CANCEL_URL, status=500, json={})  # lost again
        tasks.mark_past_pickups()

    row = Pickup.objects.get(pk=in_doubt.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 1)
    assert row.failure_message == ""
