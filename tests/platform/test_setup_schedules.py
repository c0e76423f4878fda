import re
import threading
from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_q.models import Schedule

from integrations import schedules
from integrations.management.commands.setup_schedules import sync_schedules
from integrations.schedules import Job
from payments import schedules as payments_schedules

pytestmark = pytest.mark.django_db


def _sync(monkeypatch, jobs: list[Job]) -> str:
    # Stands in for every installed app's schedules module.
    monkeypatch.setattr(schedules, "collect_jobs", lambda: jobs)
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    return out.getvalue()


def _rows() -> dict[str, tuple[str, str, int]]:
    return {
        s.name: (s.func, s.schedule_type, s.minutes) for s in Schedule.objects.all()
    }


def test_upserts_by_name_and_removes_unlisted(monkeypatch):
    Schedule.objects.create(
        name="retired job",
        func="old.task",
        schedule_type=Schedule.MINUTES,
        minutes=1,
    )
    output = _sync(
        monkeypatch,
        [Job("probe health", "a.tasks.probe", 5), Job("sweep", "a.tasks.sweep", 2)],
    )
    assert "2 created, 0 updated, 0 unchanged, 1 deleted" in output
    assert _rows() == {
        "probe health": ("a.tasks.probe", Schedule.MINUTES, 5),
        "sweep": ("a.tasks.sweep", Schedule.MINUTES, 2),
    }
    sweep_id = Schedule.objects.get(name="sweep").pk

    output = _sync(
        monkeypatch,
        [Job("probe health", "a.tasks.probe", 5), Job("sweep", "a.tasks.sweep2", 10)],
    )
    assert "0 created, 1 updated, 1 unchanged, 0 deleted" in output
    assert _rows()["sweep"] == ("a.tasks.sweep2", Schedule.MINUTES, 10)
    assert Schedule.objects.get(name="sweep").pk == sweep_id  # updated, not replaced


def test_one_off_schedules_made_by_services_are_kept(monkeypatch):
    # e.g. a payment's delayed reconciliation: not ours to delete on deploy.
    Schedule.objects.create(
        name="reconcile-pay_123",
        func="payments.tasks.reconcile_payment",
        args="'pay_123'",
        schedule_type=Schedule.ONCE,
    )
    output = _sync(monkeypatch, [Job("sweep", "a.tasks.sweep", 2)])
    assert "1 created, 0 updated, 0 unchanged, 0 deleted" in output
    assert set(_rows()) == {"sweep", "reconcile-pay_123"}


def test_rerun_keeps_next_run(monkeypatch):
    jobs = [Job("sweep", "a.tasks.sweep", 2)]
    _sync(monkeypatch, jobs)
    first = Schedule.objects.get(name="sweep").next_run
    _sync(monkeypatch, jobs)
    assert Schedule.objects.get(name="sweep").next_run == first


def test_duplicate_rows_collapse_to_one(monkeypatch):
    Schedule.objects.create(name="sweep", func="a.tasks.sweep", minutes=2)
    Schedule.objects.create(name="sweep", func="a.tasks.sweep", minutes=2)
    _sync(monkeypatch, [Job("sweep", "a.tasks.sweep", 2)])
    assert Schedule.objects.filter(name="sweep").count() == 1


def test_duplicate_job_names_are_refused(monkeypatch):
    with pytest.raises(CommandError, match="duplicate job names: x"):
        _sync(monkeypatch, [Job("x", "a.b", 1), Job("x", "a.c", 2)])


def test_listed_jobs_point_at_importable_functions():
    from django.utils.module_loading import import_string

    for job in schedules.collect_jobs():
        assert callable(import_string(job.func)), job
        assert job.minutes > 0


def test_each_app_contributes_its_own_jobs():
    names = [job.name for job in schedules.collect_jobs()]
    # The core lists only its own; payments' come from payments/schedules.py.
    assert all(job.func.startswith("integrations.") for job in schedules.JOBS)
    assert {"payments.reconcile", "payments.recurring"} <= set(names)
    assert {job.name for job in schedules.JOBS} <= set(names)
    # In INSTALLED_APPS order: the core's first.
    assert names[: len(schedules.JOBS)] == [job.name for job in schedules.JOBS]


def test_command_installs_every_apps_jobs():
    output = StringIO()
    call_command("setup_schedules", stdout=output)
    expected = {job.name: job for job in schedules.collect_jobs()}
    assert f"{len(expected)} created" in output.getvalue()
    assert _rows()["payments.reconcile"] == (
        "payments.tasks.reconcile_pending_payments",
        Schedule.MINUTES,
        5,
    )
    assert set(_rows()) == set(expected)


def test_the_same_job_name_in_two_apps_is_refused(monkeypatch):
    clash = Job(schedules.JOBS[0].name, "payments.tasks.run_recurring_charges", 5)
    monkeypatch.setattr(payments_schedules, "JOBS", [clash])
    with pytest.raises(ValueError, match=re.escape(schedules.JOBS[0].name)):
        schedules.collect_jobs()
    # One readable line, not a traceback, and nothing changed.
    with pytest.raises(CommandError, match="Schedules not changed: duplicate"):
        call_command("setup_schedules", stdout=StringIO())
    assert not Schedule.objects.exists()


def test_an_app_listing_something_else_than_jobs_is_refused(monkeypatch):
    monkeypatch.setattr(payments_schedules, "JOBS", [("payments.x", "a.b", 5)])
    with pytest.raises(ValueError, match=r"payments\.schedules\.JOBS"):
        schedules.collect_jobs()


@pytest.mark.django_db(transaction=True)
def test_two_setup_schedules_at_once_leave_one_row_per_job():
    jobs = schedules.collect_jobs()
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def sync() -> None:
        try:
            barrier.wait()
            sync_schedules(jobs)
        except Exception as exc:  # a refusal would be fine; duplicates are not
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(Schedule.objects.values_list("name", flat=True))
    assert sorted(name for name, n in counts.items() if n > 1) == [], errors
    assert set(counts) == {job.name for job in jobs}
