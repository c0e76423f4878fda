"""Bulk sends in the admin: read-only, with a progress bar (read from the
send's batch job on every load), recipients by outcome, the recipients that
failed, and a cancel action (needs the change permission on batch jobs, as
the batch job admin's does)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.models import BatchRowStatus
from notifications.models import BulkRecipient, BulkSend
from notifications.services.bulk import (
    bulk_send_cancel,
    bulk_send_counts,
    bulk_send_progress,
    bulk_send_status,
)

_FAILURES_SHOWN = 20
_ERROR_CHARS = 300


@admin.register(BulkSend)
class BulkSendAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "public_id",
        "name",
        "template",
        "category",
        "status",
        "progress",
        "created_at",
    )
    list_filter = ("category", "template", "job__status")
    search_fields = ("public_id", "name", "template")
    list_select_related = ("job",)
    date_hierarchy = "created_at"
    actions = ["cancel_selected"]
    fields = (
        "public_id",
        "name",
        "template",
        "category",
        "from_email",
        "context",
        "status",
        "progress",
        "outcomes",
        "job",
        "created_at",
        "failures",
    )
    readonly_fields = fields

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_batchjob")

    @admin.display(description="Status")
    def status(self, obj: BulkSend) -> str:
        return bulk_send_status(obj)

    @admin.display(description="Progress")
    def progress(self, obj: BulkSend) -> SafeString | str:
        progress = bulk_send_progress(obj)
        if progress is None:
            return "-"
        return format_html(
            '<progress value="{}" max="{}"></progress> {}',
            progress.settled,
            max(progress.total, 1),
            progress.summary(),
        )

    @admin.display(description="Recipients by outcome")
    def outcomes(self, obj: BulkSend) -> str:
        counts = bulk_send_counts(obj)
        return ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "-"

    @admin.display(description="Recipients with errors")
    def failures(self, obj: BulkSend) -> SafeString | str:
        rows = (
            BulkRecipient.objects.filter(bulk_send=obj)
            .exclude(last_error="")
            .exclude(status=BatchRowStatus.DONE)
            .order_by("status", "pk")[:_FAILURES_SHOWN]
        )
        if not rows:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} ({}, {} attempt(s)): {}</li>",
                (
                    (r.email, r.status, r.attempts, r.last_error[:_ERROR_CHARS])
                    for r in rows
                ),
            ),
        )

    @admin.action(description="Cancel selected bulk sends", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        jobs = [bulk_send_cancel(bulk_send=bulk) for bulk in queryset]
        states = [job.status for job in jobs if job is not None]
        self.message_user(
            request,
            f"{states.count('cancelled')} bulk send(s) cancelled; "
            f"{states.count('running')} stopping after the messages in flight.",
            messages.SUCCESS,
        )
