"""django_q's task and schedule admins, re-registered with the project's
limits: a task is re-run only from a failure, once, and only by staff who may
change failures; a schedule names code to run, so only a superuser writes or
deletes one; a queued task (the ORM broker's row) is only looked at, and
only a superuser deletes one."""

from functools import partial

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django_q import admin as q_admin
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Schedule, Success

from integrations.task_batcher import enqueue_failed, shared_broker


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
        # A double-click on "Go", or two staff on one failure: each failure is
        # claimed by deleting it, and only the request whose DELETE removed it
        # queues it, once that is committed, so a refund is not run twice.
        with transaction.atomic():
            claimed = [task for task in queryset if _claim(task)]
            transaction.on_commit(partial(self._queue, request, claimed))
        if len(claimed) < len(queryset):
            self.message_user(
                request,
                "Some selected tasks were already resubmitted; they were not "
                "queued again.",
                messages.WARNING,
            )

    def _queue(self, request: HttpRequest, tasks: list[Failure]) -> None:
        kept = [task for task in tasks if not _requeue(task)]
        if not kept:
            return
        # One message for all: in a Redis outage every one is refused.
        if len(tasks) == 1:
            text = (
                "The task could not be queued (the task queue did not take it);"
                " it is kept as failed, to resubmit later."
            )
        else:
            text = (
                f"{len(kept)} of {len(tasks)} tasks could not be queued (the task"
                " queue did not take them); they are kept as failed, to resubmit"
                " later."
            )
        self.message_user(request, text, messages.ERROR)


def _requeue(task: Failure) -> bool:
    """Queue ``task`` again; False if the broker refused it, the failure then
    given back (logged once per task at INFO for Redis: its outage or refusal
    has its own line)."""
    try:
        q_admin.async_task(
            task.func, *task.args or (), q_options=_options(task), **task.kwargs or {}
        )
    except Exception as exc:
        enqueue_failed("failed task", exc, {"task_id": task.pk}, kept="kept as failed")
        task.save(force_insert=True)
        return False
    return True


def _options(task: Failure) -> dict:
    """django_q's options for ``task``, apart from its own kwargs: a kwarg
    named as an option not in ``q_options`` is taken as that option, so each
    one the task's kwargs name is given its default here."""
    options = {
        "hook": task.hook,
        "group": task.group,
        "cluster": task.cluster,
        "broker": shared_broker(),
    }
    defaults = {
        "save": Conf.SAVE_LIMIT >= 0,
        "sync": Conf.SYNC,
        "cached": Conf.CACHED,
        "ack_failure": Conf.ACK_FAILURES,
        "iter_count": 0,
        "iter_cached": None,
        "chain": None,
        "timeout": -1 if Conf.TIMEOUT is None else Conf.TIMEOUT,
    }
    own = task.kwargs or {}
    return options | {key: value for key, value in defaults.items() if key in own}


def _claim(task: Failure) -> bool:
    """True if this request deleted the failure (a concurrent one waits on
    the row lock, then deletes nothing)."""
    deleted, _ = Failure.objects.filter(pk=task.pk).delete()
    return deleted == 1


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

    # Deleting one stops an app's sweep or retry until the next
    # setup_schedules: a superuser's call as well.
    def has_delete_permission(
        self, request: HttpRequest, obj: Schedule | None = None
    ) -> bool:
        return request.user.is_active and request.user.is_superuser


class QueueAdmin(q_admin.QueueAdmin):
    # Its lock keeps other workers off a task one holds: cleared, a second
    # worker runs it too (a capture, a refund); its key picks the cluster,
    # so a changed one strands it. No one edits a queued task.
    def has_change_permission(
        self, request: HttpRequest, obj: OrmQ | None = None
    ) -> bool:
        return False

    # Deleting one drops queued work (rows behind it wait for their sweep):
    # a superuser's call, as for schedules.
    def has_delete_permission(
        self, request: HttpRequest, obj: OrmQ | None = None
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
    # django_q shows the queue only with the ORM broker (or in its tests).
    if admin.site.is_registered(OrmQ):
        admin.site.unregister(OrmQ)
        admin.site.register(OrmQ, QueueAdmin)


_replace_django_q_admins()
