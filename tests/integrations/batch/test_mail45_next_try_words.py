"""Staff read a waiting row's next try that has passed (the job resting until
its sweep) as due now, not "next try at <a past time>" (the generic batch
admin); ``batch_jobs show`` prints every time in the project's TIME_ZONE with
its zone named (created and started were UTC beside a local next try)."""

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


def test_the_admin_says_a_passed_next_try_is_due_now(admin_client, enqueued) -> None:
    job, row = _waiting_job()
    at = database_now() - timedelta(minutes=2)
    BatchItem.objects.filter(pk=row.pk).update(next_attempt_at=at)
    html = admin_client.get(
        reverse("admin:integrations_batchjob_change", args=[job.pk])
    ).content.decode()
    assert f"(next try due now (overdue since {_shown(at)}))" in html
    assert "next try at" not in html


def test_batch_jobs_show_prints_one_zone(settings, enqueued) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    job, row = _waiting_job()
    job.refresh_from_db()
    out = StringIO()
    call_command("batch_jobs", "show", str(job.pk), stdout=out)
    shown = out.getvalue()
    assert f"  created    {_shown(job.created_at)}" in shown
    assert f"  started    {_shown(job.started_at)}" in shown
    assert f"  next try   {_shown(row.next_attempt_at)} (1 row(s) waiting)" in shown
    assert " UTC" not in shown
    assert _shown(job.created_at).endswith((" CET", " CEST"))
