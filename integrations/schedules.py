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
]
