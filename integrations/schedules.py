"""Periodic jobs. Each installed app lists its own in a ``schedules`` module
(``JOBS``, a list of ``Job``); this one holds the core's. ``manage.py
setup_schedules`` collects them all (``collect_jobs``), upserts them into
django-q2 by name and removes repeating schedules no longer listed."""

from collections import Counter
from dataclasses import dataclass
from importlib import import_module

from django.apps import apps
from django.utils.module_loading import module_has_submodule


@dataclass(frozen=True)
class Job:
    name: str
    func: str  # dotted path of the task function
    minutes: int  # run every N minutes


JOBS: list[Job] = [
    # The core's own jobs; each app lists its jobs in its own schedules.py.
    Job(
        name="prune-idempotency-records",
        func="integrations.api.tasks.prune_idempotency_records",
        minutes=60,
    ),
    Job(
        name="integrations.health.probe_enabled_accounts",
        func="integrations.health_tasks.probe_enabled_accounts",
        minutes=1,
    ),
    # Webhooks the broker dropped, retries that are due, claims of dead workers.
    Job(
        name="integrations.webhooks.sweep",
        func="integrations.webhooks.tasks.sweep_webhook_events",
        minutes=1,
    ),
    # Outbox deliveries that never ran or are due for a retry.
    Job(
        name="integrations.events.sweep",
        func="integrations.event_tasks.sweep_event_deliveries",
        minutes=1,
    ),
    # Batch jobs: rows of dead workers back, stalled or dropped jobs again.
    Job(
        name="integrations.batch.sweep",
        func="integrations.batch.tasks.sweep_batch_jobs",
        minutes=1,
    ),
    # Provider-call log retention (PROVIDER_CALL_RETENTION_DAYS).
    Job(
        name="integrations.calls.prune",
        func="integrations.tasks_calls.prune_provider_calls",
        minutes=24 * 60,
    ),
]


def collect_jobs() -> list[Job]:
    """The ``JOBS`` of every installed app's ``schedules`` module, in
    INSTALLED_APPS order. ValueError if two jobs share a name."""
    jobs: list[Job] = []
    for config in apps.get_app_configs():
        if not module_has_submodule(config.module, "schedules"):
            continue
        module = import_module(f"{config.name}.schedules")
        listed = getattr(module, "JOBS", None)
        if listed is None:
            continue
        if not all(isinstance(job, Job) for job in listed):
            raise ValueError(f"{config.name}.schedules.JOBS must list Job objects")
        jobs.extend(listed)
    refuse_duplicates(jobs)
    return jobs


def refuse_duplicates(jobs: list[Job]) -> None:
    """ValueError naming the jobs listed twice: a schedule is kept by name."""
    counts = Counter(job.name for job in jobs)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate job names: {', '.join(duplicates)}")
