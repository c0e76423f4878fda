"""Every periodic job, in one list. `manage.py setup_schedules` upserts these
into django-q2 (by name) and removes ones no longer listed."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    name: str
    func: str  # dotted path of the task function
    minutes: int  # run every N minutes


JOBS: list[Job] = [
    # Each area appends its jobs here.
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
    # Payments whose outcome is unknown (or pending too long): ask the gateway.
    Job(
        name="payments.reconcile",
        func="payments.tasks.reconcile_pending_payments",
        minutes=5,
    ),
    # Merchant-initiated recurring charges that are due.
    Job(
        name="payments.recurring",
        func="payments.tasks.run_recurring_charges",
        minutes=60,
    ),
]
