"""Make django-q2's schedules match the jobs every installed app lists in its
``schedules`` module (``integrations.schedules.collect_jobs``).

The list in code is the source of truth: each job is upserted by name and a
repeating schedule whose name is no longer listed is deleted, so renaming or
dropping a job in code never leaves a stale job running. One-off schedules
(``Schedule.ONCE``, e.g. a payment's delayed reconciliation) belong to the code
that made them and are never touched.
"""

import hashlib
from typing import Any

from django.core.management.base import CommandError
from django.db import connections, transaction
from django.utils import timezone
from django_q.models import Schedule

from integrations import schedules
from integrations.management.arguments import OneLineCommand


def sync_schedules(jobs: list[schedules.Job]) -> dict[str, int]:
    """Upsert ``jobs`` by name and delete unlisted repeating schedules; return
    counts."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}
    schedules.refuse_duplicates(jobs)
    names = [job.name for job in jobs]
    with transaction.atomic():
        _sync_lock()
        for job in jobs:
            counts[_upsert(job)] += 1
        stale = Schedule.objects.exclude(name__in=names).exclude(
            schedule_type=Schedule.ONCE
        )
        counts["deleted"] = stale.count()
        stale.delete()
    return counts


def _sync_lock() -> None:
    """Two hosts of a deploy running this at once take turns: each reads then
    inserts by name, which is not unique, so both would insert every job.

    PostgreSQL: a transaction-scoped advisory lock (the key is computed here,
    stable across server versions). SQLite writes one transaction at a time.
    """
    conn = connections[Schedule.objects.db]
    if conn.vendor != "postgresql":
        return
    digest = hashlib.blake2b(b"integrations.setup_schedules", digest_size=8)
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)",
            [int.from_bytes(digest.digest(), "big", signed=True)],
        )


def _upsert(job: schedules.Job) -> str:
    rows = list(Schedule.objects.filter(name=job.name).order_by("pk"))
    # `name` is not unique in django-q2; keep one row per job.
    for extra in rows[1:]:
        extra.delete()
    wanted = {
        "func": job.func,
        "schedule_type": Schedule.MINUTES,
        "minutes": job.minutes,
        "repeats": -1,
    }
    if not rows:
        Schedule.objects.create(name=job.name, next_run=timezone.now(), **wanted)
        return "created"
    row = rows[0]
    if all(getattr(row, field) == value for field, value in wanted.items()):
        # Leave next_run alone so re-running the command does not reset timing.
        return "unchanged"
    for field, value in wanted.items():
        setattr(row, field, value)
    row.next_run = timezone.now()
    row.save()
    return "updated"


class Command(OneLineCommand):
    help = "Create, update and delete django-q2 schedules to match the job list."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = sync_schedules(schedules.collect_jobs())
        except ValueError as exc:
            # A job listed twice (or a JOBS list that is not Job objects).
            raise CommandError(f"Schedules not changed: {exc}.") from None
        self.stdout.write(
            "Schedules: {created} created, {updated} updated, "
            "{unchanged} unchanged, {deleted} deleted.".format(**counts)
        )
