"""A pickup cancel in doubt whose carrier account stays unusable (401/403, a
setting missing) was re-sent every hour with no end: the pickup's day did not
bound it (the past sweep skips pickups in doubt, pickup_resolve settles only
unknown ones), so it stayed scheduled for ever and the carrier got a refused
call each hour. Now, once its day has passed, it is sent no more: it ends
``unknown`` with the account's reason for staff, one ERROR, and staff settle
it as any unknown pickup. A healthy account keeps its five tries."""

import logging
from datetime import timedelta

import pytest
import responses

from integrations.clock import database_now
from integrations.models import Event, ProviderAccount
from shipping import tasks
from shipping.models import Pickup, PickupStatus
from shipping.services import pickup_resolve
from shipping.services.pickup_cancels import CANCEL_RETRIES, pickup_cancels_retry
from shipping.services.pickups import pickups_past_sweep
from tests.factories import ProviderAccountFactory
from tests.shipping.helpers import api_client, pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"
MEND_IT = "pickup cancel not re-sent: its carrier account cannot be used; mend it"
GIVEN_UP = (
    "pickup cancel in doubt not re-sent: its day passed and its carrier "
    "account cannot be used; settle it by hand"
)
REFUSED = "UPS refused the access token"  # error_unauthorized.json's text


@pytest.fixture
def ups() -> ProviderAccount:
    return ups_account(
        "ups-s35", breaker_consecutive_failures=50, breaker_min_calls=100
    )


def _in_doubt(account: ProviderAccount, day: int, number: str = "2929602E9CP"):
    return scheduled_pickup(
        account,
        number,
        pickup_date=pickup_day(day),
        cancel_requested_at=database_now() - timedelta(hours=3),
    )


def _an_hour_on(pickup: Pickup) -> None:
    Pickup.objects.filter(pk=pickup.pk).update(
        cancel_retry_at=database_now() - timedelta(minutes=1)
    )


def _day_passes(pickup: Pickup) -> None:
    # Yesterday (UTC) is still in the booking window; the day before is gone.
    Pickup.objects.filter(pk=pickup.pk).update(pickup_date=pickup_day(-2))
    _an_hour_on(pickup)


def _errors(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("shipping") and r.levelno >= logging.ERROR
    ]


def _refusing_ups(mocked) -> tuple:
    token = mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
    cancel = mocked.delete(
        CANCEL_URL, status=401, json=load("ups", "error_unauthorized.json")
    )
    return token, cancel


def test_refused_hourly_until_its_day_passes_then_left_for_staff(ups, caplog):
    pickup = _in_doubt(ups, day=0)  # today: not passed

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _token, cancel = _refusing_ups(mocked)
        for _ in range(CANCEL_RETRIES + 1):
            tasks.mark_past_pickups()
            _an_hour_on(pickup)
    # Each hour (UPS's adapter refreshes its token once on a 401), no try spent.
    assert cancel.call_count >= CANCEL_RETRIES + 1
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    assert REFUSED in row.failure_message
    caplog.clear()  # staff were told to mend it, once

    _day_passes(pickup)
    with (
        caplog.at_level(logging.INFO),
        responses.RequestsMock(assert_all_requests_are_fired=False) as mocked,
    ):
        token, cancel = _refusing_ups(mocked)
        assert tasks.mark_past_pickups() == {"cancels_resent": 0, "marked_past": 0}
        assert (token.call_count, cancel.call_count) == (0, 0)  # nothing sent

    row = Pickup.objects.get(pk=pickup.pk)
    assert row.status == PickupStatus.UNKNOWN
    assert row.cancel_requested_at is not None  # its doubt kept for staff
    assert REFUSED in row.failure_message and "mend the account" in row.failure_message
    assert "ask the carrier" in row.failure_message
    assert "sent again" not in row.failure_message
    assert "tried again each hour" not in row.failure_message
    assert "ups-secret" not in row.failure_message
    assert _errors(caplog) == [GIVEN_UP]
    assert not Event.objects.filter(name="pickup.past").exists()


def test_the_runs_after_it_ended_do_nothing(ups, caplog):
    pickup = _in_doubt(ups, day=0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _refusing_ups(mocked)
        tasks.mark_past_pickups()
    _day_passes(pickup)
    with responses.RequestsMock() as mocked:
        tasks.mark_past_pickups()
    ended = Pickup.objects.get(pk=pickup.pk)
    caplog.clear()

    with caplog.at_level(logging.INFO), responses.RequestsMock() as mocked:
        for _ in range(3):
            _an_hour_on(pickup)
            assert pickup_cancels_retry() == 0
            assert pickups_past_sweep() == 0
        assert len(mocked.calls) == 0

    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.failure_message) == (
        PickupStatus.UNKNOWN,
        ended.failure_message,
    )
    assert _errors(caplog) == []


def test_a_setting_the_account_lacks_ends_the_same_way_on_fedex(caplog):
    # FedEx's cancel needs the account number: missing_settings, never sent.
    fedex = ProviderAccountFactory(
        kind="shipping",
        provider="fedex",
        slug="fedex-s35",
        settings={"max_attempts": 1},
        credentials={"client_id": "k", "client_secret": "fedex-secret-s35"},
    )
    pickup = _in_doubt(fedex, day=1, number="CXL-S35")
    with caplog.at_level(logging.INFO), responses.RequestsMock() as mocked:
        tasks.mark_past_pickups()
        _an_hour_on(pickup)
        tasks.mark_past_pickups()
        row = Pickup.objects.get(pk=pickup.pk)
        assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)

        _day_passes(pickup)
        tasks.mark_past_pickups()
        assert len(mocked.calls) == 0

    row = Pickup.objects.get(pk=pickup.pk)
    assert row.status == PickupStatus.UNKNOWN
    assert "'account_number' is not set" in row.failure_message
    assert "fedex-secret-s35" not in row.failure_message
    assert _errors(caplog) == [MEND_IT, GIVEN_UP]


def test_found_unusable_after_its_day_it_ends_in_that_run(ups, caplog):
    # Nothing noted before its day passed: the try that finds the account
    # refused is its last, not one more refused call an hour on.
    pickup = _in_doubt(ups, day=-2)

    with (
        caplog.at_level(logging.INFO),
        responses.RequestsMock(assert_all_requests_are_fired=False) as mocked,
    ):
        _token, cancel = _refusing_ups(mocked)
        tasks.mark_past_pickups()
        sent = cancel.call_count
        assert sent >= 1
        _an_hour_on(pickup)
        tasks.mark_past_pickups()
        assert cancel.call_count == sent

    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.UNKNOWN, 0)
    assert REFUSED in row.failure_message
    assert _errors(caplog) == [MEND_IT, GIVEN_UP]


def test_a_healthy_account_keeps_its_tries_after_its_day(ups):
    # A lost answer (500), its day gone: a try counted, re-sent, as before.
    pickup = _in_doubt(ups, day=-2)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(CANCEL_URL, status=500, json={})
        tasks.mark_past_pickups()

    assert cancel.call_count == 1
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 1)
    assert row.failure_message == ""


def test_a_reason_cleared_by_a_cancel_once_mended_is_not_given_up(ups):
    # Mended, a cancel by hand went out (its answer lost): nothing says the
    # account is unusable now, so the re-send goes out after its day.
    pickup = _in_doubt(ups, day=0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _refusing_ups(mocked)
        tasks.mark_past_pickups()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(CANCEL_URL, status=500, json={})
        api_client("shipping:read", "shipping:write").post(
            f"/api/v1/shipping/pickups/{pickup.public_id}/cancel/",
            HTTP_IDEMPOTENCY_KEY=f"cancel-{pickup.public_id}",
        )
    assert Pickup.objects.get(pk=pickup.pk).failure_message == ""

    _day_passes(pickup)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(
            CANCEL_URL, json=load("ups", "pickup_cancel_response.json")
        )
        tasks.mark_past_pickups()

    assert cancel.call_count == 1
    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.CANCELLED


def _given_up(ups) -> Pickup:
    pickup = _in_doubt(ups, day=0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _refusing_ups(mocked)
        tasks.mark_past_pickups()
    _day_passes(pickup)
    with responses.RequestsMock():
        tasks.mark_past_pickups()
    return Pickup.objects.get(pk=pickup.pk)


def test_staff_settle_it_cancelled(ups):
    pickup = _given_up(ups)

    settled = pickup_resolve(pickup=pickup)

    assert settled.status == PickupStatus.CANCELLED
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.cancel_requested_at, row.failure_message) == (None, "")
    assert Event.objects.filter(name="pickup.cancelled").count() == 1


def test_staff_settle_it_still_booked_and_the_sweep_marks_it_past(ups):
    pickup = _given_up(ups)

    pickup_resolve(pickup=pickup, confirmation_number=pickup.confirmation_number)
    with responses.RequestsMock():
        counts = tasks.mark_past_pickups()

    assert counts == {"cancels_resent": 0, "marked_past": 1}
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_requested_at) == (PickupStatus.PAST, None)
    assert Event.objects.filter(name="pickup.past").count() == 1
