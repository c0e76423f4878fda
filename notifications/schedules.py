"""Notifications' periodic jobs, collected by ``manage.py setup_schedules``."""

from integrations.schedules import Job

JOBS: list[Job] = [
    # Queued messages whose task was lost; messages whose worker died mid-send.
    Job(name="notifications.sweep", func="notifications.tasks.sweep_emails", minutes=1),
]
