"""Inventory's periodic jobs, collected by ``manage.py setup_schedules``."""

from integrations.schedules import Job

JOBS: list[Job] = [
    # Reservations past their time already stop counting at read time; this
    # takes their units off ``reserved`` for good.
    Job(
        name="inventory.expire_reservations",
        func="inventory.tasks.expire_reservations",
        minutes=1,
    ),
]
