"""The sweeper's take-back of expired leases while a wake-up marks the same
rows, on PostgreSQL: the wake-up locks the leased rows by id; a take-back
updating in its plan's order (a table scan meeting the second row first)
waits for the first while holding the second, and one of the two dies of
"deadlock detected". The take-back locks by id first, as every statement
changing many leased rows does.

The interleaving is the mail47 tests' (a trigger pauses the side reading the
table right after it locked the first row it met, until the test lets go of
an advisory lock): the same on every run, however loaded the machine is.
"""

from datetime import timedelta

import pytest
from django.conf import settings

from integrations.batch.services import batch_jobs_sweep
from integrations.clock import database_now
from integrations.models import BatchItem, BatchRowStatus
from tests.integrations.batch.test_mail47_wake_lock_order import (
    _leased_rows,
    _race,
    pause_trigger,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _after_the_lease():
    return database_now() + timedelta(seconds=settings.BATCH_LEASE_SECONDS + 1)


@pytest.mark.usefixtures("pause_trigger")
def test_a_sweep_taking_leases_back_and_a_wake_up_do_not_deadlock(enqueued):
    rows = _leased_rows()
    later = _after_the_lease()

    def sweep() -> None:
        batch_jobs_sweep(now=later)

    assert _race(rows, sweep, worker_scans=True) == {}
    taken_back = BatchItem.objects.filter(
        status=BatchRowStatus.PENDING, next_attempt_at__isnull=False
    )
    assert taken_back.count() == 2


@pytest.mark.usefixtures("pause_trigger")
def test_rows_out_of_attempts_given_up_while_a_wake_up_marks_them(enqueued):
    rows = _leased_rows()
    BatchItem.objects.update(attempts=settings.BATCH_MAX_ATTEMPTS)
    later = _after_the_lease()

    def sweep() -> None:
        batch_jobs_sweep(now=later)

    assert _race(rows, sweep, worker_scans=True) == {}
    assert BatchItem.objects.filter(status=BatchRowStatus.FAILED).count() == 2
