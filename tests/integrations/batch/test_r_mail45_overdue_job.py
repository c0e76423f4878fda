"""A job whose waiting row's next try has passed (the job resting until its
sweep) says so: ``batch_jobs show`` and the generic batch admin give the
job's next try as due now and list the row, as they do a row still ahead.
Before, a passed next try was left out of the job's waiting rows: the job
showed no next try (or a later row's) and ``batch_jobs show`` no trace of
the overdue row at all."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from integrations.batch import Defer, batch_job_create, batch_job_work
from integrations.clock import database_now
from integrations.models import BatchItem, BatchJob, BatchRowStatus
from tests.integrations.batch.handlers import record

pytestmark = pytest.mark.django_db


def held_back(row: BatchItem) -> None:
    """k00 waits 5 minutes on its own; the others are done."""
    if row.key == "k00":
        raise Defer("waiting for k00's account", 300)
    record(row)


def _overdue_job() -> tuple[BatchJob, BatchItem]:
    job = batch_job_create(
        kind="test.batch",
        name="held",
        handler=f"{__name__}.held_back",
        items=[(f"k{i:02d}", {}) for i in range(3)],
    )
    batch_job_work(job_id=job.pk, budget_seconds=0)
    row = BatchItem.objects.get(job=job, key="k00")
    assert row.status == BatchRowStatus.PENDING
    BatchItem.objects.filter(pk=row.pk).update(
        next_attempt_at=database_now() - timedelta(minutes=2)
    )
    row.refresh_from_db()
    return job, row


def _shown(at) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S %Z}"


def test_batch_jobs_show_says_the_job_is_due_now(enqueued) -> None:
    job, row = _overdue_job()
    out = StringIO()
    call_command("batch_jobs", "show", str(job.pk), stdout=out)
    shown = out.getvalue()
    due = f"due now (overdue since {_shown(row.next_attempt_at)})"
    assert f"  next try   {due} (1 row(s) waiting)" in shown
    assert f"#{row.pk} {job.pk}:k00 (0 attempt(s)), next try {due}" in shown


def test_the_admin_says_the_job_is_due_now(admin_client, enqueued) -> None:
    job, row = _overdue_job()
    html = admin_client.get(
        reverse("admin:integrations_batchjob_change", args=[job.pk])
    ).content.decode()
    due = f"due now (overdue since {_shown(row.next_attempt_at)})"
    assert f"{due} (1 row(s) waiting)" in html
