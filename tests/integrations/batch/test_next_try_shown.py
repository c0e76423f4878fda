"""When staff are told a waiting row is tried again (folded from mail44's
next try, mail45's words and r-mail45's overdue job: one set-up).

- The generic batch admin and ``batch_jobs show`` say when a waiting row
  (backing off, or waiting alone: ``Defer``) is tried again, and when the
  job's first waiting row is, as the bulk send's API and admin do. Before,
  staff saw the row's error and ``pending``, never when it would go.
- A next try that has passed (the job resting until its sweep) reads as due
  now, not "next try at <a past time>", and is still the job's next try with
  the row listed. Before, a passed next try was left out of the job's
  waiting rows: the job showed no next try (or a later row's) and
  ``batch_jobs show`` no trace of the overdue row at all.
- ``batch_jobs show`` prints every time in the project's TIME_ZONE with its
  zone named (created and started were UTC beside a local next try)."""

from datetime import timedelta
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
from integrations.clock import database_now
from integrations.models import BatchItem, BatchJob, BatchRowStatus
from tests.integrations.batch.handlers import record

pytestmark = pytest.mark.django_db


def held_back(row: BatchItem) -> None:
    """k00 waits 5 minutes on its own; the others are done."""
    if row.key == "k00":
        raise Defer("waiting for k00's account", 300)
    record(row)


def _waiting_job(*, overdue: bool = False) -> tuple[BatchJob, BatchItem]:
    """A job whose row k00 waits on its own, its next try ahead (or, with
    ``overdue``, passed two minutes ago: the job resting until its sweep)."""
    job = batch_job_create(
        kind="test.batch",
        name="held",
        handler=f"{__name__}.held_back",
        items=[(f"k{i:02d}", {}) for i in range(3)],
    )
    batch_job_work(job_id=job.pk, budget_seconds=0)
    row = BatchItem.objects.get(job=job, key="k00")
    assert row.status == BatchRowStatus.PENDING and row.next_attempt_at is not None
    if overdue:
        BatchItem.objects.filter(pk=row.pk).update(
            next_attempt_at=database_now() - timedelta(minutes=2)
        )
        row.refresh_from_db()
    return job, row


def _shown(at) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S %Z}"


def _show(job: BatchJob) -> str:
    out = StringIO()
    call_command("batch_jobs", "show", str(job.pk), stdout=out)
    return out.getvalue()


def _admin_page(admin_client, job: BatchJob) -> str:
    page = admin_client.get(
        reverse("admin:integrations_batchjob_change", args=[job.pk])
    )
    assert page.status_code == 200
    return page.content.decode()


def test_the_job_s_next_try_is_its_first_waiting_row(enqueued) -> None:
    job, row = _waiting_job()
    assert batch_job_next_try(job) == row.next_attempt_at
    BatchItem.objects.filter(pk=row.pk).update(status=BatchRowStatus.DONE)
    assert batch_job_next_try(job) is None


def test_the_admin_shows_the_row_s_and_the_job_s_next_try(
    admin_client, enqueued
) -> None:
    job, row = _waiting_job()
    html = _admin_page(admin_client, job)
    assert "(pending, 0 attempt(s)): waiting for k00&#x27;s account" in html
    assert f"(next try at {_shown(row.next_attempt_at)})" in html
    assert f"{_shown(row.next_attempt_at)} (1 row(s) waiting)" in html


def test_batch_jobs_show_says_the_next_try(enqueued) -> None:
    job, row = _waiting_job()
    shown = _show(job)
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
    shown = _show(job)
    assert "next try" not in shown
    assert "waiting rows" not in shown


def test_the_admin_says_a_passed_next_try_is_due_now(admin_client, enqueued) -> None:
    job, row = _waiting_job(overdue=True)
    html = _admin_page(admin_client, job)
    due = f"due now (overdue since {_shown(row.next_attempt_at)})"
    # The row's ...
    assert f"(next try {due})" in html
    assert "next try at" not in html
    # ... and the job's.
    assert f"{due} (1 row(s) waiting)" in html


def test_batch_jobs_show_says_the_job_is_due_now(enqueued) -> None:
    job, row = _waiting_job(overdue=True)
    shown = _show(job)
    due = f"due now (overdue since {_shown(row.next_attempt_at)})"
    assert f"  next try   {due} (1 row(s) waiting)" in shown
    assert f"#{row.pk} {job.pk}:k00 (0 attempt(s)), next try {due}" in shown


def test_batch_jobs_show_prints_one_zone(settings, enqueued) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    job, row = _waiting_job()
    job.refresh_from_db()
    shown = _show(job)
    assert f"  created    {_shown(job.created_at)}" in shown
    assert f"  started    {_shown(job.started_at)}" in shown
    assert f"  next try   {_shown(row.next_attempt_at)} (1 row(s) waiting)" in shown
    assert " UTC" not in shown
    assert _shown(job.created_at).endswith((" CET", " CEST"))
