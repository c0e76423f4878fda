"""The hourly re-send of a pickup cancel in doubt, and what counts as a fault
of its carrier account (no try spent, staff told once to mend it):

1. Only the account's own configuration: a request the pickup's own data
   cannot make (the shared client's ``invalid_request``) is no account fault
   and is a try as before, with no "mend the account" for staff.
2. The reason noted for staff is cleared by any cancel of the pickup going
   out (the API's, the admin's), not only by the re-send job's.
3. The carrier refusing our credentials (401, 403) on a cancel in doubt says
   nothing about the pickup: an account fault as 1, not a try spent each
   hour until the pickup goes to staff as "unknown" for the wrong reason."""

import logging
from datetime import timedelta

import pytest
import requests
import responses

from integrations.clock import database_now
from integrations.models import Event, ProviderAccount
from shipping import tasks
from shipping.models import Pickup, PickupStatus
from shipping.services.pickup_cancels import CANCEL_RETRIES
from tests.factories import ProviderAccountFactory
from tests.shipping.helpers import api_client, pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"
MEND_IT = "pickup cancel not re-sent: its carrier account cannot be used; mend it"
# UPS's answers refusing our credentials (UPS's error envelope).
REFUSALS = {
    "401": (401, "error_unauthorized.json", "UPS refused the access token"),
    "403": (403, "error_response.json", "credentials lack permission"),
}


def _in_doubt(account: ProviderAccount, confirmation: str = "2929602E9CP") -> Pickup:
    return scheduled_pickup(
        account,
        confirmation,
        # Its day to come: once passed, an unusable account's cancel in doubt
        # is left to staff (test_ship35_cancel_unusable_day_passed).
        pickup_date=pickup_day(1),
        cancel_requested_at=database_now() - timedelta(days=3),
    )


@pytest.fixture
def ups() -> ProviderAccount:
    # Its breaker never opens here: each refusal below is its own case.
    return ups_account(
        "ups-s34", breaker_consecutive_failures=50, breaker_min_calls=100
    )


def _an_hour_on(pickup: Pickup) -> None:
    Pickup.objects.filter(pk=pickup.pk).update(
        cancel_retry_at=database_now() - timedelta(minutes=1)
    )


def _staff_logs(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("shipping") and r.levelno >= logging.ERROR
    ]


def test_a_request_the_pickups_data_cannot_make_is_no_account_fault(ups, caplog):
    # A booking number UPS's Prn header cannot carry (a leading blank): the
    # shared client's ConfigurationError("invalid_request"). The account is fine.
    pickup = _in_doubt(ups, " 2929602E9CP")

    with (
        caplog.at_level(logging.INFO),
        responses.RequestsMock(assert_all_requests_are_fired=False) as mocked,
    ):
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(
            CANCEL_URL, json=load("ups", "pickup_cancel_response.json")
        )
        tasks.mark_past_pickups()

    assert cancel.call_count == 0
    row = Pickup.objects.get(pk=pickup.pk)
    # A try, as any of ours that breaks (so it cannot come back for ever).
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 1)
    assert "mend the account" not in row.failure_message
    assert MEND_IT not in _staff_logs(caplog)


def test_a_setting_the_account_lacks_is_still_an_account_fault(caplog):
    # FedEx's cancel needs the account number: missing_settings, nothing sent.
    fedex = ProviderAccountFactory(
        kind="shipping",
        provider="fedex",
        slug="fedex-s34",
        settings={"max_attempts": 1},
        credentials={"client_id": "k", "client_secret": "fedex-secret-s34"},
    )
    pickup = _in_doubt(fedex, "CXL-S34")

    with caplog.at_level(logging.INFO), responses.RequestsMock() as mocked:
        tasks.mark_past_pickups()
        assert len(mocked.calls) == 0

    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    assert "'account_number' is not set" in row.failure_message
    assert _staff_logs(caplog) == [MEND_IT]


def _cancel_by_api(pickup: Pickup, admin_client) -> None:
    api_client("shipping:read", "shipping:write").post(
        f"/api/v1/shipping/pickups/{pickup.public_id}/cancel/",
        HTTP_IDEMPOTENCY_KEY=f"cancel-{pickup.public_id}",
    )


def _cancel_in_admin(pickup: Pickup, admin_client) -> None:
    admin_client.post(
        "/admin/shipping/pickup/",
        {"action": "cancel", "_selected_action": [pickup.pk]},
    )


@pytest.mark.parametrize("send", [_cancel_by_api, _cancel_in_admin])
def test_a_cancel_sent_by_hand_once_mended_clears_the_stale_reason(
    ups, send, admin_client
):
    pickup = _in_doubt(ups)
    account = ProviderAccount.objects.filter(pk=ups.pk)
    kept = account.values("credentials_encrypted").get()
    account.update(credentials_encrypted="")  # its credentials missing
    with responses.RequestsMock():
        tasks.mark_past_pickups()
    assert "mend the account" in Pickup.objects.get(pk=pickup.pk).failure_message
    account.update(**kept)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(CANCEL_URL, status=500, json={})  # lost again
        send(pickup, admin_client)

    assert cancel.call_count == 1
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.failure_message) == (PickupStatus.SCHEDULED, "")
    assert row.cancel_requested_at is not None  # still in doubt


@pytest.mark.parametrize("refusal", REFUSALS)
def test_credentials_refused_spend_no_try_and_say_why_once(ups, refusal, caplog):
    status, body, said = REFUSALS[refusal]
    pickup = _in_doubt(ups)

    with (
        caplog.at_level(logging.INFO),
        responses.RequestsMock(assert_all_requests_are_fired=False) as mocked,
    ):
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(CANCEL_URL, status=status, json=load("ups", body))
        for _ in range(CANCEL_RETRIES + 1):
            tasks.mark_past_pickups()
            _an_hour_on(pickup)

    assert cancel.call_count >= CANCEL_RETRIES + 1  # sent every hour
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    assert row.cancel_requested_at is not None  # still in doubt
    assert "mend the account" in row.failure_message
    assert said in row.failure_message
    assert "ups-secret" not in row.failure_message
    assert _staff_logs(caplog) == [MEND_IT]


def test_a_run_that_reaches_no_carrier_keeps_the_reason_told(ups, caplog):
    # Refused, then not reached (it cleared the reason going out), then
    # refused again: staff keep reading why, and are told once.
    pickup = _in_doubt(ups)
    answers = [
        {"status": 401, "json": load("ups", "error_unauthorized.json")},
        {"body": requests.ConnectTimeout("connect timed out")},
        {"status": 401, "json": load("ups", "error_unauthorized.json")},
    ]
    with caplog.at_level(logging.INFO):
        for answer in answers:
            with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
                mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
                mocked.delete(CANCEL_URL, **answer)
                tasks.mark_past_pickups()
            row = Pickup.objects.get(pk=pickup.pk)
            assert "UPS refused the access token" in row.failure_message
            _an_hour_on(pickup)

    assert row.cancel_retries == 0
    assert _staff_logs(caplog) == [MEND_IT]


def test_once_the_credentials_are_accepted_the_re_send_cancels(ups):
    pickup = _in_doubt(ups)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(
            CANCEL_URL, status=401, json=load("ups", "error_unauthorized.json")
        )
        tasks.mark_past_pickups()
    _an_hour_on(pickup)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(
            CANCEL_URL, json=load("ups", "pickup_cancel_response.json")
        )
        tasks.mark_past_pickups()

    assert cancel.call_count == 1
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.failure_message) == (PickupStatus.CANCELLED, "")
    assert Event.objects.filter(name="pickup.cancelled").count() == 1
