"""Batch jobs: read-only progress, the rows that failed, and a cancel action.

Jobs are created by code (a campaign, a sync), never by a form: the handler
path on a job is imported by the workers.
"""

from datetime import datetime

from django.apps import apps
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from integrations.batch import (
    batch_job_cancel,
    batch_job_next_try,
    batch_job_progress,
    batch_job_waiting,
    next_try_when,
    next_try_words,
    row_next_try,
)
from integrations.clock import database_now
from integrations.models import BatchJob, BatchRow, BatchRowStatus

_FAILURES_SHOWN = 20
_ERROR_CHARS = 300


@admin.register(BatchJob)
class BatchJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "name", "status", "progress", "created_at"]
    list_filter = ["status", "kind", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["name", "kind"]
    actions = ["cancel_selected"]
    fields = [
        "kind",
        "name",
        "status",
        "progress",
        "cancel_requested",
        "paced_until",
        "next_try",
        "chunk_size",
        "row_model",
        "handler",
        "created_at",
        "started_at",
        "worked_at",
        "finished_at",
        "last_error",
        "row_failures",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: BatchJob | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: BatchJob | None = None
    ) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_batchjob")

    @admin.display(description="Progress")
    def progress(self, obj: BatchJob) -> SafeString:
        progress = batch_job_progress(obj)
        return format_html(
            '<progress value="{}" max="{}"></progress> {}',
            progress.settled,
            max(progress.total, 1),
            progress.summary(),
        )

    @admin.display(description="Next try")
    def next_try(self, obj: BatchJob) -> str:
        """When the first waiting row (backing off, or waiting alone) is
        tried again."""
        at = batch_job_next_try(obj)
        if at is None:
            return "-"
        waiting = batch_job_waiting(obj).count()
        return f"{next_try_when(at)} ({waiting} row(s) waiting)"

    @admin.display(description="Rows with errors")
    def row_failures(self, obj: BatchJob) -> SafeString | str:
        try:
            model = apps.get_model(obj.row_model)
        except LookupError:
            return "-"
        rows = (
            model.objects.filter(job_id=obj.pk)
            .exclude(last_error="")
            .exclude(status=BatchRowStatus.DONE)
            .order_by("status", "pk")[:_FAILURES_SHOWN]
        )
        if not rows:
            return "-"
        now = database_now()
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} ({}, {} attempt(s)): {}{}</li>",
                (
                    (
                        str(r),
                        r.status,
                        r.attempts,
                        r.last_error[:_ERROR_CHARS],
                        next_try_note(r, now=now),
                    )
                    for r in rows
                ),
            ),
        )

    @admin.action(description="Cancel selected batch jobs", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        states = [batch_job_cancel(job_id=job.pk).status for job in queryset]
        cancelled = states.count("cancelled")
        stopping = states.count("running")
        self.message_user(
            request,
            f"{cancelled} job(s) cancelled; {stopping} stopping after the rows "
            "in flight.",
            messages.SUCCESS,
        )


def next_try_note(row: BatchRow, *, now: datetime | None = None) -> str:
    """`` (next try at ...)`` for a waiting row (``due now`` once passed),
    else nothing: its waits grow while a pause lasts
    (``integrations.batch.rows.defer_seconds``). ``now``: the database's
    time, read once for a list."""
    at = row_next_try(row)
    if at is None:
        return ""
    return f" (next try {next_try_words(at, now=now)})"
