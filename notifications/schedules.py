"""Notifications' periodic jobs, collected by ``manage.py setup_schedules``."""

from integrations.schedules import Job

JOBS: list[Job] = [
    # Queued messages whose task was lost; messages whose worker died mid-send.
    Job(name="notifications.sweep", func="notifications.tasks.sweep_emails", minutes=1),
    # Reactivation notes no stale stop can reach any more (REACTIVATION_NOTE_DAYS).
    Job(
        name="notifications.purge_reactivation_notes",
        func="notifications.tasks.purge_reactivation_notes",
        minutes=24 * 60,
    ),
    # Mailgun's webhook tokens past their account's time tolerance.
    Job(
        name="notifications.purge_webhook_tokens",
        func="notifications.tasks.purge_webhook_tokens",
        minutes=15,
    ),
]
