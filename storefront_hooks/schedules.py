"""Storefront webhooks' periodic jobs, collected by ``setup_schedules``."""

from integrations.schedules import Job

JOBS: list[Job] = [
    # Retries that are due, rows the broker lost, claims of dead workers.
    Job(
        name="storefront_hooks.sweep",
        func="storefront_hooks.tasks.sweep_webhook_deliveries",
        minutes=1,
    ),
]
