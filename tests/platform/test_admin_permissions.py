"""What a staff login may do in the admin is what its permissions say: an
action that changes things needs a permission beyond viewing, django_q's task
re-runs are limited, and writing or deleting a schedule (code to run, or an
app's sweep) is a superuser's."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client, RequestFactory
from django.utils import timezone
from django_q.models import Failure, Schedule, Success

from config.admin_site import SwitchyardAdminSite
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

RUNS: list[str] = []


def record_run() -> None:
    """Stands for any task a worker runs: a capture, a refund, a bulk send."""
    RUNS.append("ran")


@pytest.fixture(autouse=True)
def _no_runs():
    RUNS.clear()


def _staff(*codenames: str) -> Client:
    name = "staff-" + "-".join(codenames or ("none",))
    user = User.objects.create_user(name, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def _task(model, success: bool):
    return model.objects.create(
        id=("b" if success else "a") * 32,
        name="t",
        func=f"{__name__}.record_run",
        args=(),
        kwargs={},
        started=timezone.now(),
        stopped=timezone.now(),
        success=success,
        result=None if success else "boom",
    )


def _run_action(client: Client, url: str, action: str, pk) -> None:
    response = client.post(
        url,
        {"action": action, "index": "0", "_selected_action": [str(pk)]},
        follow=True,
    )
    assert response.status_code in (200, 403)


def test_a_view_only_staff_member_cannot_revoke_api_keys():
    key = ApiKeyFactory()
    _run_action(_staff("view_apikey"), "/admin/integrations/apikey/", "revoke", key.pk)
    key.refresh_from_db()
    # The storefront's key must still work: revoking is a change.
    assert key.revoked_at is None


def test_a_staff_member_who_may_change_api_keys_revokes_them():
    key = ApiKeyFactory()
    staff = _staff("view_apikey", "change_apikey")
    _run_action(staff, "/admin/integrations/apikey/", "revoke", key.pk)
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_view_only_staff_member_cannot_resubmit_django_q_tasks():
    task = _task(Failure, success=False)
    staff = _staff("view_failure")
    _run_action(staff, "/admin/django_q/failure/", "resubmit_task", task.pk)
    _run_action(staff, "/admin/django_q/failure/", "resubmit_failed", task.pk)
    # Resubmitting re-runs the task (and deletes the failure record).
    assert RUNS == []
    assert Failure.objects.filter(pk=task.pk).exists()


def test_staff_who_may_change_failures_resubmit_a_failed_task(
    django_capture_on_commit_callbacks,
):
    task = _task(Failure, success=False)
    staff = _staff("view_failure", "change_failure")
    # Queued once its failure's deletion (the claim) commits.
    with django_capture_on_commit_callbacks(execute=True):
        _run_action(staff, "/admin/django_q/failure/", "resubmit_failed", task.pk)
    assert RUNS == ["ran"]
    assert not Failure.objects.filter(pk=task.pk).exists()


def test_no_one_resubmits_a_task_that_succeeded(admin_client):
    # Its effect happened; running it again repeats it.
    task = _task(Success, success=True)
    _run_action(admin_client, "/admin/django_q/success/", "resubmit_task", task.pk)
    assert RUNS == []
    page = admin_client.get("/admin/django_q/success/").content.decode()
    assert "Resubmit" not in page


def undeclared(modeladmin, request, queryset) -> None:
    """An action written without ``permissions=``."""


class ThirdPartyAdmin(admin.ModelAdmin):
    actions = [undeclared]


def test_an_action_declaring_no_permission_needs_the_change_permission():
    """The site's rule, for any ModelAdmin (a third party's, a future one)."""
    site = SwitchyardAdminSite()
    site.register(Success, ThirdPartyAdmin)
    model_admin = site.get_model_admin(Success)
    user = User.objects.create_user("viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_success"))
    request = RequestFactory().get("/")
    request.user = user
    assert "undeclared" not in model_admin.get_actions(request)
    user.user_permissions.add(Permission.objects.get(codename="change_success"))
    request.user = User.objects.get(pk=user.pk)  # permissions are cached
    assert "undeclared" in model_admin.get_actions(request)


def test_a_staff_member_with_add_schedule_cannot_schedule_a_callable():
    # A schedule runs any importable callable with the arguments given:
    # writing one is running code, which no permission short of superuser gives.
    staff = _staff("view_schedule", "add_schedule", "change_schedule")
    data = {
        "name": "owned",
        "func": "subprocess.getoutput",
        "args": "'id'",
        "schedule_type": "O",
        "repeats": "-1",
        "next_run_0": "2026-01-01",
        "next_run_1": "00:00:00",
    }
    response = staff.post("/admin/django_q/schedule/add/", data)
    assert response.status_code == 403
    assert not Schedule.objects.filter(name="owned").exists()


def _schedule_form(func: str) -> dict[str, str]:
    return {
        "name": "job",
        "func": func,
        "schedule_type": "I",
        "minutes": "5",
        "repeats": "-1",
        "next_run_0": "2026-01-01",
        "next_run_1": "00:00:00",
    }


def test_a_staff_member_cannot_rewrite_a_schedule(admin_client):
    schedule = Schedule.objects.create(
        name="job", func=f"{__name__}.record_run", schedule_type="I", minutes=5
    )
    url = f"/admin/django_q/schedule/{schedule.pk}/change/"
    staff = _staff("view_schedule", "change_schedule")
    response = staff.post(url, _schedule_form("subprocess.getoutput"))
    assert response.status_code == 403
    schedule.refresh_from_db()
    assert schedule.func == f"{__name__}.record_run"
    # A superuser still manages schedules by hand.
    response = admin_client.post(url, _schedule_form("integrations.tasks.other"))
    assert response.status_code == 302, response.content
    schedule.refresh_from_db()
    assert schedule.func == "integrations.tasks.other"


def test_a_staff_member_cannot_delete_a_schedule(admin_client):
    # An app's sweep or retry would stop until the next setup_schedules.
    schedule = Schedule.objects.create(
        name="job", func=f"{__name__}.record_run", schedule_type="I", minutes=5
    )
    staff = _staff("view_schedule", "delete_schedule")
    url = f"/admin/django_q/schedule/{schedule.pk}/delete/"
    assert staff.post(url, {"post": "yes"}).status_code == 403
    _run_action(staff, "/admin/django_q/schedule/", "delete_selected", schedule.pk)
    assert Schedule.objects.filter(pk=schedule.pk).exists()
    # A superuser still does.
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
