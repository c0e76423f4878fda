"""A scheduled pickup nobody cancelled stayed ``scheduled`` for ever once
its day had passed (admin list, the API's answers). The driver came or not:
no carrier tells us which through the calls we make, so the
``shipping.pickups_past`` schedule marks it ``past`` (done or missed) once
its day is before the booking window's first day (yesterday in UTC, the
database's clock), the day a cancel is refused as ``pickup_date_passed``."""

from datetime import timedelta

import pytest
import responses
from django.utils.module_loading import import_string

from integrations.clock import database_now
from integrations.models import ProviderCall
from shipping.models import Pickup, PickupStatus
from shipping.schedules import JOBS
from shipping.services.claims import CLAIM_LIFE
from tests.shipping.helpers import api_client, pickup_day, scheduled_pickup
from tests.shipping.ups_answers import ups_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def ups():
    return ups_account("ups-ship22")


def _run_schedule() -> int:
    (job,) = [j for j in JOBS if j.name == "shipping.pickups_past"]
    # The job names its steps' counts (one that broke fails it): those it marked past.
    return import_string(job.func)()["marked_past"]


def _status(pickup: Pickup) -> str:
    return Pickup.objects.get(pk=pickup.pk).status


def test_a_scheduled_pickup_whose_day_passed_is_past_in_the_admin_and_api(
    ups, admin_client
):
    gone = scheduled_pickup(ups, "PRN-GONE", pickup_date=pickup_day(-2))

    assert _run_schedule() == 1

    assert _status(gone) == PickupStatus.PAST
    page = admin_client.get("/admin/shipping/pickup/?status__exact=past")
    assert page.status_code == 200
    assert gone.public_id in page.content.decode()
    assert "Day passed (done or missed)" in page.content.decode()

    client = api_client("shipping:read", "shipping:write")
    with responses.RequestsMock() as mocked:
        answer = client.post(
            f"/api/v1/shipping/pickups/{gone.public_id}/cancel/",
            HTTP_IDEMPOTENCY_KEY="ship22-cancel",
        )
        assert not mocked.calls
    assert answer.status_code == 409, answer.content
    assert answer.json()["error"]["code"] == "pickup_date_passed"
    assert pickup_day(-2).isoformat() in answer.json()["error"]["message"]
    assert _status(gone) == PickupStatus.PAST
    assert not ProviderCall.objects.exists()


def test_pickups_still_in_the_window_or_not_scheduled_are_left(ups):
    yesterday = scheduled_pickup(ups, "PRN-Y", pickup_date=pickup_day(-1))
    today = scheduled_pickup(ups, "PRN-T", pickup_date=pickup_day(0))
    others = [
        scheduled_pickup(
            ups, f"PRN-{status}", pickup_date=pickup_day(-3), status=status
        )
        for status in (
            PickupStatus.CANCELLED,
            PickupStatus.UNKNOWN,
            PickupStatus.FAILED,
            PickupStatus.REQUESTED,
        )
    ]

    assert _run_schedule() == 0

    # Yesterday in UTC is still today where the day starts later.
    assert _status(yesterday) == _status(today) == PickupStatus.SCHEDULED
    assert [_status(p) for p in others] == [p.status for p in others]


def test_a_past_pickup_whose_cancel_is_in_doubt_or_at_the_carrier_waits(ups):
    now = database_now()
    in_doubt = scheduled_pickup(
        ups, "PRN-DOUBT", pickup_date=pickup_day(-3), cancel_requested_at=now
    )
    claimed = scheduled_pickup(
        ups, "PRN-CLAIM", pickup_date=pickup_day(-3), cancel_started_at=now
    )
    dead_claim = scheduled_pickup(
        ups,
        "PRN-DEAD",
        pickup_date=pickup_day(-3),
        cancel_started_at=now - CLAIM_LIFE - timedelta(minutes=1),
    )

    assert _run_schedule() == 1

    # Only the carrier's answer to a retry settles a cancel that may have landed.
    assert _status(in_doubt) == _status(claimed) == PickupStatus.SCHEDULED
    assert _status(dead_claim) == PickupStatus.PAST
    assert _run_schedule() == 0
