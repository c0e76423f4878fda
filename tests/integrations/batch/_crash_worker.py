"""One OS process of the crash test (run by test_crash.py).

    python -m tests.integrations.batch._crash_worker <command> '<json args>'

Commands: ``setup`` (schema on a SQLite file, then a job), ``work`` (start
the job and run its tasks, django-q2 in sync mode, until done or killed),
``resume`` (sweep once the dead worker's leases expired: the sweeper
enqueues the job and its tasks run it to the end) and ``report``. The
database is the one DATABASE_URL names: the test's PostgreSQL database or a
SQLite file. Writes one JSON line last on stdout; ``work`` also writes
``row <key>`` as each row's handler runs.
"""

import json
import os
import sys
import time
from typing import Any

EFFECT = "batch.effect"
HANDLER = "tests.integrations.batch._crash_worker.slow_effect"


def slow_effect(row: Any) -> None:
    """The row's effect in its own transaction, then a pause: a long one on
    the row CRASH_KILL_KEY names, in which the test's SIGKILL lands (before
    that row's transaction commits)."""
    from integrations.models import Event

    Event.objects.create(name=EFFECT, subject=f"{row.job_id}:{row.key}")
    sys.stdout.write(f"row {row.key}\n")
    sys.stdout.flush()
    slow = row.key == os.environ.get("CRASH_KILL_KEY")
    time.sleep(60 if slow else float(os.environ.get("CRASH_ROW_SECONDS", "0.02")))


class _NoMigrations(dict):
    """Tables straight from the models, as the suite builds them."""

    def __contains__(self, item: object) -> bool:
        return True

    def __getitem__(self, item: str) -> None:
        return None


def setup(args: dict[str, Any]) -> dict[str, Any]:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from integrations.batch import batch_job_create

    if connection.vendor == "sqlite":
        settings.MIGRATION_MODULES = _NoMigrations()
        call_command("migrate", run_syncdb=True, verbosity=0)
        call_command("createcachetable", verbosity=0)
    job = batch_job_create(
        kind="test.crash",
        handler=HANDLER,
        items=[(f"k{i:03d}", {}) for i in range(args["rows"])],
        chunk_size=args["chunk"],
        start=False,
    )
    return {"job_id": job.pk}


def work(args: dict[str, Any]) -> dict[str, Any]:
    from integrations.batch import batch_job_start
    from integrations.models import BatchJob

    # Outside a transaction the first task is enqueued, and in sync mode
    # run, at once; each enqueues the next until the job is done.
    batch_job_start(job=BatchJob.objects.get(pk=args["job_id"]))
    return report(args)


def resume(args: dict[str, Any]) -> dict[str, Any]:
    from integrations.batch import batch_jobs_sweep

    return {"enqueued": batch_jobs_sweep(), **report(args)}


def report(args: dict[str, Any]) -> dict[str, Any]:
    from integrations.models import BatchItem, BatchJob, Event

    job = BatchJob.objects.get(pk=args["job_id"])
    prefix = f"{job.pk}:"
    effects: dict[str, int] = {}
    subjects = Event.objects.filter(name=EFFECT, subject__startswith=prefix)
    for subject in subjects.values_list("subject", flat=True):
        key = subject[len(prefix) :]
        effects[key] = effects.get(key, 0) + 1
    rows: dict[str, int] = {}
    for status in BatchItem.objects.filter(job=job).values_list("status", flat=True):
        rows[status] = rows.get(status, 0) + 1
    return {
        "job": {
            "status": job.status,
            "total": job.total,
            "done": job.done,
            "failed": job.failed,
        },
        "rows": rows,
        "effects": effects,
    }


def main() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    command, args = sys.argv[1], json.loads(sys.argv[2])
    result = {"setup": setup, "work": work, "resume": resume, "report": report}[
        command
    ](args)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
