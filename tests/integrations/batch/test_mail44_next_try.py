"""The generic batch admin and ``batch_jobs show`` say when a waiting row
(backing off, or waiting alone: ``Defer``) is tried again, and when the
job's first waiting row is, as the bulk send's API and admin do. Before,
staff saw the row's error and ``pending``, never when it would go."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from integrations.batch import (
    Defer,
    batch_job_create,
    batch_job_next_try,
    batch_job_work,
)
from integrations.models import BatchItem, BatchJob, BatchRowStatus
from tests.integrations.batch.handlers import record

pytestmark = pytest.mark.django_db


def held_back(row: BatchItem) -> None:
    """k00 waits 5 minutes on its own; the others are done."""
    if row.key == "k00":
        raise Defer("waiting for k00's account", 300)
    record(row)


def _waiting_job() -> tuple[BatchJob, BatchItem]:
    job = batch_job_create(
        kind="test.batch",
        name="held",
        handler=f"{__name__}.held_back",
        items=[(f"k{i:02d}", {}) for i in range(3)],
    )
    batch_job_work(job_id=job.pk, budget_seconds=0)
    row = BatchItem.objects.get(job=job, key="k00")
    assert row.status == BatchRowStatus.PENDING and row.next_attempt_at is not None
    return job, row


def _shown(at) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S %Z}"


def test_the_job_s_next_try_is_its_first_waiting_row(enqueued) -> None:
    job, row = _waiting_job()
    assert batch_job_next_try(job) == row.next_attempt_at
    BatchItem.objects.filter(pk=row.pk).update(status=BatchRowStatus.DONE)
    assert batch_job_next_try(job) is None


def test_the_admin_shows_the_row_s_and_the_job_s_next_try(
    admin_client, enqueued
) -> None:
    job, row = _waiting_job()
    page = admin_client.get(
        reverse("admin:integrations_batchjob_change", args=[job.pk])
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "(pending, 0 attempt(s)): waiting for k00&#x27;s account" in html
    assert f"(next try at {_shown(row.next_attempt_at)})" in html
    assert f"{_shown(row.next_attempt_at)} (1 row(s) waiting)" in html


def test_batch_jobs_show_says_the_next_try(enqueued) -> None:
    job, row = _waiting_job()
    out = StringIO()
    call_command("batch_jobs", "show", str(job.pk), stdout=out)
    shown = out.getvalue()
    assert f"  next try   {_shown(row.next_attempt_at)} (1 row(s) waiting)" in shown
    assert "  waiting rows" in shown
    assert (
        f"    #{row.pk} {job.pk}:k00 (0 attempt(s)), next try at "
        f"{_shown(row.next_attempt_at)}: waiting for k00's account"
    ) in shown


def test_nothing_waiting_no_next_try(enqueued) -> None:
    job = batch_job_create(
        kind="test.batch", handler=f"{__name__}.held_back", items=[("k01", {})]
    )
    batch_job_work(job_id=job.pk, budget_seconds=0)
    out = StringIO()
    call_command("batch_jobs", "show", str(job.pk), stdout=out)
    assert "next try" not in out.getvalue()
    assert "waiting rows" not in out.getvalue()
