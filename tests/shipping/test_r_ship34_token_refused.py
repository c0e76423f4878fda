"""Review of ship34: a 401/403 from the carrier's OAuth token endpoint (not
the cancel's own) on a re-sent pickup cancel in doubt is the same account
fault as one on the cancel: no try spent, staff told once, the staff note
true about it being sent again."""

import logging
from datetime import timedelta

import pytest
import responses

from integrations.clock import database_now
from shipping import tasks
from shipping.models import Pickup, PickupStatus
from shipping.services.pickup_cancels import CANCEL_RETRIES
from tests.shipping.helpers import api_client, pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"
MEND_IT = "pickup cancel not re-sent: its carrier account cannot be used; mend it"


@pytest.mark.parametrize("status", [401, 403])
def test_the_token_endpoint_refusing_us_is_an_account_fault(status, caplog):
    ups = ups_account("ups-r34", breaker_consecutive_failures=50, breaker_min_calls=100)
    pickup = scheduled_pickup(
        ups,
        "2929602E9CP",
        # Its day to come: once passed, an unusable account's cancel in doubt
        # is left to staff (test_ship35_cancel_unusable_day_passed).
        pickup_date=pickup_day(1),
        cancel_requested_at=database_now() - timedelta(days=3),
    )
    with (
        caplog.at_level(logging.INFO),
        responses.RequestsMock(assert_all_requests_are_fired=False) as mocked,
    ):
        token = mocked.post(
            TOKEN_URL, status=status, json=load("ups", "error_unauthorized.json")
        )
        cancel = mocked.delete(CANCEL_URL, json={})
        for _ in range(CANCEL_RETRIES + 1):
            tasks.mark_past_pickups()
            Pickup.objects.filter(pk=pickup.pk).update(
                cancel_retry_at=database_now() - timedelta(minutes=1)
            )

    assert token.call_count >= CANCEL_RETRIES + 1 and cancel.call_count == 0
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    assert "mend the account" in row.failure_message
    # It is sent again, each hour: the note must not tell staff otherwise.
    assert "not sent again" not in row.failure_message
    assert "tried again each hour" in row.failure_message
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("shipping") and r.levelno >= logging.ERROR
    ]
    assert errors == [MEND_IT]


def test_a_reason_noted_in_the_earlier_words_is_cleared_going_out():
    # Rows noted before the wording changed are cleared as the new ones are.
    ups = ups_account(
        "ups-r34b", breaker_consecutive_failures=50, breaker_min_calls=100
    )
    pickup = scheduled_pickup(
        ups,
        "2929602E9CP",
        # Its day to come: once passed, an unusable account's cancel in doubt
        # is left to staff (test_ship35_cancel_unusable_day_passed).
        pickup_date=pickup_day(1),
        cancel_requested_at=database_now() - timedelta(days=3),
    )
    Pickup.objects.filter(pk=pickup.pk).update(
        failure_message="our cancel in doubt is not sent again while its carrier "
        "account cannot be used; mend the account: credentials missing"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(CANCEL_URL, status=500, json={})  # lost again
        tasks.mark_past_pickups()

    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.failure_message) == (PickupStatus.SCHEDULED, "")


def test_a_cancel_by_hand_refused_likewise_keeps_the_reason_told_once(caplog):
    # A cancel sent from the API clears the reason going out; refused with a
    # 401 it must write it back, and the next re-send not tell staff again.
    ups = ups_account(
        "ups-r34c", breaker_consecutive_failures=50, breaker_min_calls=100
    )
    pickup = scheduled_pickup(
        ups,
        "2929602E9CP",
        # Its day to come: once passed, an unusable account's cancel in doubt
        # is left to staff (test_ship35_cancel_unusable_day_passed).
        pickup_date=pickup_day(1),
        cancel_requested_at=database_now() - timedelta(days=3),
    )
    with (
        caplog.at_level(logging.INFO),
        responses.RequestsMock(assert_all_requests_are_fired=False) as mocked,
    ):
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(
            CANCEL_URL, status=401, json=load("ups", "error_unauthorized.json")
        )
        tasks.mark_past_pickups()
        answer = api_client("shipping:read", "shipping:write").post(
            f"/api/v1/shipping/pickups/{pickup.public_id}/cancel/",
            HTTP_IDEMPOTENCY_KEY=f"cancel-{pickup.public_id}",
        )
        assert answer.status_code == 502
        row = Pickup.objects.get(pk=pickup.pk)
        assert "UPS refused the access token" in row.failure_message
        Pickup.objects.filter(pk=pickup.pk).update(
            cancel_retry_at=database_now() - timedelta(minutes=1)
        )
        tasks.mark_past_pickups()

    errors = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("shipping") and r.levelno >= logging.ERROR
    ]
    assert errors == [MEND_IT]


def test_a_first_cancel_by_hand_refused_notes_no_doubt():
    # Not in doubt: a definite "not processed", nothing for the re-send job.
    ups = ups_account(
        "ups-r34d", breaker_consecutive_failures=50, breaker_min_calls=100
    )
    pickup = scheduled_pickup(ups, "2929602E9CP", pickup_date=pickup_day(2))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(
            CANCEL_URL, status=401, json=load("ups", "error_unauthorized.json")
        )
        answer = api_client("shipping:read", "shipping:write").post(
            f"/api/v1/shipping/pickups/{pickup.public_id}/cancel/",
            HTTP_IDEMPOTENCY_KEY=f"cancel-{pickup.public_id}",
        )
    assert answer.status_code == 502
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.cancel_requested_at, row.failure_message) == (None, "")
