"""``batch_jobs show ID`` lists the rows that failed and why (README:
"progress, failed rows, cancel"), bounded for a job with many."""

from io import StringIO

import pytest
from django.core.management import call_command

from integrations.batch import batch_job_create, batch_job_work
from integrations.management.commands import batch_jobs
from integrations.models import BatchItem, BatchJob, BatchRowStatus
from tests.integrations.batch.handlers import H

pytestmark = pytest.mark.django_db


def _show(job_id: int) -> str:
    out = StringIO()
    call_command("batch_jobs", "show", str(job_id), stdout=out)
    return out.getvalue()


def test_batch_jobs_show_lists_the_failed_rows(enqueued, settings):
    settings.BATCH_MAX_ATTEMPTS = 1
    job = batch_job_create(
        kind="email.campaign",
        name="May",
        handler=f"{H}.rejected",
        items=[("row-a", {}), ("row-b", {})],
    )
    batch_job_work(job_id=job.pk)
    shown = _show(job.pk)
    assert "2 failed" in shown
    assert "row-a" in shown and "address invalid" in shown, shown
    assert "row-b" in shown
    assert "... and" not in shown


def test_a_job_without_failed_rows_shows_none(enqueued):
    job = batch_job_create(
        kind="email.campaign", name="May", handler=f"{H}.record", items=[("a", {})]
    )
    batch_job_work(job_id=job.pk)
    assert "failed rows" not in _show(job.pk)


def test_many_failed_rows_are_bounded_with_how_many_more(enqueued, monkeypatch):
    monkeypatch.setattr(batch_jobs, "FAILED_SHOWN", 3)
    job = batch_job_create(
        kind="erp.sync",
        name="",
        handler=f"{H}.record",
        items=[(f"k{i}", {}) for i in range(5)],
        start=False,
    )
    # A stored error is data: one line, control characters escaped.
    BatchItem.objects.filter(job_id=job.pk).update(
        status=BatchRowStatus.FAILED, attempts=3, last_error="bad\n\x1b[2Jrow"
    )
    lines = _show(job.pk).splitlines()
    listed = [line for line in lines if line.startswith("    #")]
    assert len(listed) == 3
    assert listed[0].endswith(":k0 (3 attempt(s)): bad \\x1b[2Jrow"), listed[0]
    assert lines[-1] == "    ... and 2 more"


def test_a_jobs_name_and_error_cannot_rewrite_the_operators_terminal(enqueued):
    # A bulk send's name is the storefront's free text (POST .../bulk): CR
    # returns to the line's start, U+202E reverses what follows on screen.
    name = "May\r  status     done\n  progress   100% \u202e"
    job = batch_job_create(
        kind="email.campaign",
        name=name,
        handler=f"{H}.record",
        items=[("a", {})],
        start=False,
    )
    BatchJob.objects.filter(pk=job.pk).update(last_error="stopped\r\x1b[2Jdone")
    out = StringIO()
    call_command("batch_jobs", "show", str(job.pk), stdout=out)
    call_command("batch_jobs", "list", stdout=out)
    shown = out.getvalue()

    for forged in ("\r", "\u202e", "\x1b", "\n  progress   100%"):
        assert forged not in shown, repr(shown)
    assert "May\\r  status     done\\n  progress   100% \\u202e" in shown
    assert "stopped\\r\\x1b[2Jdone" in shown
