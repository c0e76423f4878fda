"""The hourly pickups job (``tasks.mark_past_pickups``) re-sends cancels in
doubt, then marks pickups whose day passed ``past``. An exception outside
the re-send's per-row handling (a statement timeout taking a row, a bug)
left the job there: that hour's past sweep never ran. Each step now runs
whatever the one before did; the failing one is logged once with its
traceback and, once all ran, the job fails naming it (JobStepsFailed: a
failed task in django-q, test_revship31_job_steps)."""

import logging
from datetime import timedelta

import pytest
from django.db import OperationalError

from integrations.clock import database_now
from shipping import tasks
from shipping.models import Pickup, PickupStatus
from shipping.services import pickup_cancel_retry, pickups
from tests.shipping.helpers import carrier, pickup_day, scheduled_pickup

pytestmark = pytest.mark.django_db


def _step_errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]


def test_a_broken_cancel_resend_still_lets_the_past_sweep_run(monkeypatch, caplog):
    account = carrier("post31a")
    scheduled_pickup(
        account,
        "PU-DOUBT",
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
    )
    gone = scheduled_pickup(account, "PU-GONE", pickup_date=pickup_day(-3))

    def timed_out(pickup, now):
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(pickup_cancel_retry, "_retry_take", timed_out)
    with caplog.at_level(logging.INFO), pytest.raises(tasks.JobStepsFailed) as failed:
        tasks.mark_past_pickups()

    assert Pickup.objects.get(pk=gone.pk).status == PickupStatus.PAST
    assert str(failed.value) == (
        "steps failed: cancels_resent (cancels_resent: -, marked_past: 1)"
    )
    errors = _step_errors(caplog)
    assert len(errors) == 1
    assert errors[0].exc_info[0] is OperationalError
    assert getattr(errors[0], "step", None) == "cancels_resent"


def test_a_broken_past_sweep_is_named_and_the_resends_kept(monkeypatch, caplog):
    def broken(days):
        raise RuntimeError("bug in the sweep")

    monkeypatch.setattr(pickups, "date_window", broken)
    with caplog.at_level(logging.INFO), pytest.raises(tasks.JobStepsFailed) as failed:
        tasks.mark_past_pickups()

    assert str(failed.value) == (
        "steps failed: marked_past (cancels_resent: 0, marked_past: -)"
    )
    assert len(_step_errors(caplog)) == 1


def test_a_run_with_nothing_broken_names_no_step():
    gone = scheduled_pickup(carrier("post31c"), "PU-GONE", pickup_date=pickup_day(-2))

    assert tasks.mark_past_pickups() == {"cancels_resent": 0, "marked_past": 1}
    assert Pickup.objects.get(pk=gone.pk).status == PickupStatus.PAST
    assert pickups.pickups_past_sweep() == 0
