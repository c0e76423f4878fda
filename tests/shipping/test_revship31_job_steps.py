"""The hourly pickups job (``shipping.pickups_past``) run as django-q runs it.

A step that broke was caught, logged and named in the job's result, and the
job returned normally: django-q stored the run as a *success* (its Failed
tasks page, where operators look and resubmit from, never showed it), so a
re-send step broken for days went unseen but for one log line an hour. The
steps still all run; a broken one now fails the task, its message naming
the broken step and each step's count."""

from datetime import timedelta
from multiprocessing import Queue, Value
from uuid import uuid4

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, Success, Task
from django_q.monitor import monitor
from django_q.worker import worker

from integrations.clock import database_now
from shipping.models import Pickup, PickupStatus
from shipping.services import pickup_cancel_retry
from tests.shipping.helpers import carrier, pickup_day, scheduled_pickup

pytestmark = pytest.mark.django_db

JOB = "shipping.tasks.mark_past_pickups"


def _run_by_the_cluster(monkeypatch) -> Task:
    """The scheduled job run by a cluster worker and its result stored by
    the monitor, as qcluster does (not sync mode, which re-raises)."""
    # Keeps the test's connection: the worker closes old ones otherwise.
    monkeypatch.setattr(Conf, "SYNC", True)
    task = {
        "id": uuid4().hex,
        "name": "shipping.pickups_past",
        "func": JOB,
        "args": (),
        "kwargs": {},
        "started": timezone.now(),
    }
    tasks, results = Queue(), Queue()
    tasks.put(task)
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    results.put("STOP")
    monitor(results)
    return Task.objects.get(id=task["id"])


def _broken_resends(monkeypatch) -> Pickup:
    account = carrier("rev31-job")
    scheduled_pickup(
        account,
        "PU-DOUBT",
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
    )

    def timed_out(pickup, now):
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(pickup_cancel_retry, "_retry_take", timed_out)
    return scheduled_pickup(account, "PU-GONE", pickup_date=pickup_day(-3))


def test_a_broken_step_is_a_failed_task_in_the_queue(monkeypatch):
    gone = _broken_resends(monkeypatch)

    task = _run_by_the_cluster(monkeypatch)

    assert task.success is False
    assert Failure.objects.filter(id=task.id).exists()
    assert not Success.objects.filter(id=task.id).exists()
    # The other step ran all the same, and the failure says what each did.
    assert Pickup.objects.get(pk=gone.pk).status == PickupStatus.PAST
    assert "cancels_resent" in str(task.result)
    assert "marked_past: 1" in str(task.result)


def test_a_run_with_nothing_broken_is_a_success_with_its_counts(monkeypatch):
    gone = scheduled_pickup(carrier("rev31-ok"), "PU-GONE", pickup_date=pickup_day(-2))

    task = _run_by_the_cluster(monkeypatch)

    assert task.success is True
    assert task.result == {"cancels_resent": 0, "marked_past": 1}
    assert Pickup.objects.get(pk=gone.pk).status == PickupStatus.PAST
