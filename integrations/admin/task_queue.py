"""django_q's task and schedule admins, re-registered with the project's
limits: a task is re-run only from a failure and only by staff who may change
failures; a schedule names code to run, so only a superuser writes one."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_q import admin as q_admin
from django_q.models import Failure, Schedule, Success


class SuccessAdmin(q_admin.TaskAdmin):
    # Re-running a task that succeeded repeats its effect (a capture, a
    # refund, a bulk send): no action offers it.
    actions: list = []


class FailureAdmin(q_admin.FailAdmin):
    actions = ["resubmit_failed"]

    @admin.action(
        description="Resubmit selected tasks to queue", permissions=["change"]
    )
    def resubmit_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        # django_q's action: queues each task again and deletes its failure.
        q_admin.resubmit_task(self, request, queryset)


class ScheduleAdmin(q_admin.ScheduleAdmin):
    # ``func``, ``args`` and ``hook`` name any importable callable with any
    # arguments (``subprocess.getoutput``...): writing one is running code.
    # The apps' schedules come from ``manage.py setup_schedules``.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(
        self, request: HttpRequest, obj: Schedule | None = None
    ) -> bool:
        return request.user.is_active and request.user.is_superuser


def _replace_django_q_admins() -> None:
    # Importing django_q.admin above registered django_q's own classes, so
    # this holds whichever app the admin autodiscovers first.
    for model, admin_class in (
        (Success, SuccessAdmin),
        (Failure, FailureAdmin),
        (Schedule, ScheduleAdmin),
    ):
        admin.site.unregister(model)
        admin.site.register(model, admin_class)


_replace_django_q_admins()
