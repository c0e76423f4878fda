"""The read-only BatchJob admin (progress, failures, cancel action) and the
``batch_jobs`` command."""

from io import StringIO

import pytest
from django.core.management import base, call_command
from django.urls import reverse

from integrations.batch import batch_job_create, batch_job_work
from integrations.management.commands.batch_jobs import Command
from integrations.models import BatchItem, BatchJob, BatchJobStatus, BatchRowStatus
from tests.integrations.batch.handlers import H

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(user)
    return client


def _job(keys="abcd", handler="record", name="May newsletter", **kw) -> BatchJob:
    return batch_job_create(
        kind="email.campaign",
        name=name,
        handler=f"{H}.{handler}",
        items=[(k, {}) for k in keys],
        **kw,
    )


def test_admin_lists_progress_and_shows_failed_rows_read_only(
    staff_client, enqueued, settings
):
    settings.BATCH_MAX_ATTEMPTS = 1
    job = _job("ab", handler="rejected", name="<b>May</b>")
    batch_job_work(job_id=job.pk)
    listing = staff_client.get(reverse("admin:integrations_batchjob_changelist"))
    html = listing.content.decode()
    assert listing.status_code == 200
    assert "0/2 done, 2 failed (100.0%)" in html
    assert '<progress value="2" max="2">' in html
    assert "&lt;b&gt;May&lt;/b&gt;" in html
    page = staff_client.get(
        reverse("admin:integrations_batchjob_change", args=[job.pk])
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "Rejected: address invalid" in html and "1 attempt(s)" in html
    assert 'name="_save"' not in html
    add = staff_client.get(reverse("admin:integrations_batchjob_add"))
    assert add.status_code == 403


def test_admin_cancel_action(staff_client, enqueued):
    idle, leased = _job(name="idle"), _job(name="leased")
    BatchItem.objects.filter(job=leased, key="a").update(status=BatchRowStatus.RUNNING)
    response = staff_client.post(
        reverse("admin:integrations_batchjob_changelist"),
        {"action": "cancel_selected", "_selected_action": [idle.pk, leased.pk]},
        follow=True,
    )
    assert "1 job(s) cancelled; 1 stopping after the rows in flight." in (
        response.content.decode()
    )
    idle.refresh_from_db()
    leased.refresh_from_db()
    assert idle.status == BatchJobStatus.CANCELLED
    assert (leased.status, leased.cancel_requested) == ("running", True)


def test_cancel_action_needs_the_change_permission(client, django_user_model, enqueued):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_batchjob"))
    client.force_login(user)
    job = _job()
    listing = client.get(reverse("admin:integrations_batchjob_changelist"))
    assert listing.status_code == 200 and "cancel_selected" not in (
        listing.content.decode()
    )
    client.post(
        reverse("admin:integrations_batchjob_changelist"),
        {"action": "cancel_selected", "_selected_action": [job.pk]},
    )
    job.refresh_from_db()
    assert job.status == BatchJobStatus.RUNNING


def _run(*args: str) -> str:
    out = StringIO()
    call_command("batch_jobs", *args, stdout=out)
    return out.getvalue()


def test_command_lists_shows_and_cancels(enqueued):
    done = _job("ab", name="done one")
    batch_job_work(job_id=done.pk)
    running = _job("abc", name="running one")
    listing = _run().splitlines()
    assert listing[0].startswith(f"#{running.pk}  running    email.campaign running")
    assert "0/3 done, 0 failed (0.0%)" in listing[0]
    assert "2/2 done, 0 failed (100.0%)" in listing[1]
    assert _run("list", "--status", "done").count("\n") == 1
    shown = _run("show", str(done.pk))
    assert f"Batch job #{done.pk}: email.campaign done one" in shown
    assert f"handler    {H}.record" in shown and "finished" in shown
    assert _run("cancel", str(running.pk)) == f"Batch job #{running.pk} cancelled.\n"
    running.refresh_from_db()
    assert running.status == BatchJobStatus.CANCELLED


def test_command_says_when_there_is_nothing():
    assert _run() == "No batch jobs.\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show"], "CommandError: 'show' needs a job id: batch_jobs show ID."),
        (["show", "abc"], "CommandError: Job id must be a whole number, not 'abc'."),
        (["show", "0"], "CommandError: Job id must be 1 or more, not 0."),
        (["cancel", "999"], "CommandError: No batch job #999."),
        (["stop", "1"], "CommandError: Unknown action 'stop': use list, show ID"),
        (["list", "--status", "odd"], "CommandError: Unknown status 'odd'"),
        (["list", "--limit", "x"], "CommandError: --limit must be a whole number"),
        (["list", "--bogus"], "batch_jobs: unrecognized arguments: --bogus"),
    ],
)
def test_command_bad_input_is_one_line_and_a_failure(
    argv, message, capsys, monkeypatch
):
    # run_from_argv closes every connection when done; the test's own
    # transaction must survive it.
    monkeypatch.setattr(base.connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as info:
        Command().run_from_argv(["manage.py", "batch_jobs", *argv])
    assert info.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(message)


def test_command_refuses_to_cancel_a_finished_job(enqueued, capsys, monkeypatch):
    job = _job("a")
    batch_job_work(job_id=job.pk)
    monkeypatch.setattr(base.connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as info:
        Command().run_from_argv(["manage.py", "batch_jobs", "cancel", str(job.pk)])
    assert info.value.code == 1
    assert capsys.readouterr().err.strip() == (
        f"CommandError: Batch job #{job.pk} is already done."
    )


def test_command_refuses_to_cancel_a_cancelled_job(enqueued):
    job = _job("ab")
    call_command("batch_jobs", "cancel", str(job.pk), stdout=StringIO())
    out = StringIO()
    with pytest.raises(base.CommandError, match="already cancelled"):
        call_command("batch_jobs", "cancel", str(job.pk), stdout=out)
    assert out.getvalue() == ""
