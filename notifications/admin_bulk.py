"""Bulk sends in the admin: read-only, with a progress bar that follows a
running send live (``bulk_progress.js`` polls the ``<id>/progress/`` JSON
view; without JavaScript the page refreshes itself while the send runs),
recipients by outcome, the recipients that failed, and cancel, as a button
on the page and as a list action (both need the change permission on batch
jobs, as the batch job admin's cancel does)."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from integrations.admin.batch import next_try_note
from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from integrations.batch.state import FINAL
from integrations.clock import database_now
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
# Without JavaScript, a running send's page reloads itself this often.
_NOSCRIPT_REFRESH_SECONDS = 5


@admin.register(BulkSend)
class BulkSendAdmin(PublicIdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
    change_form_template = "admin/notifications/bulksend/change_form.html"

    class Media:
        js = ["notifications/admin/bulk_progress.js"]

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_batchjob")

    @admin.display(description="Status")
    def status(self, obj: BulkSend) -> SafeString:
        return format_html(
            '<span data-bulk-status="{}">{}</span>', obj.pk, bulk_send_status(obj)
        )

    @admin.display(description="Progress")
    def progress(self, obj: BulkSend) -> SafeString | str:
        progress = bulk_send_progress(obj)
        if progress is None:
            return "-"
        url = reverse("admin:notifications_bulksend_progress", args=[obj.pk])
        return format_html(
            '<span class="bulk-progress" data-bulk-id="{}" data-progress-url="{}" '
            'data-running="{}"><progress value="{}" max="{}"></progress> {}</span>',
            obj.pk,
            url,
            "0" if progress.status in FINAL else "1",
            progress.settled,
            max(progress.total, 1),
            progress.summary(),
        )

    @admin.display(description="Recipients by outcome")
    def outcomes(self, obj: BulkSend) -> SafeString:
        return format_html(
            '<span data-bulk-outcomes="{}">{}</span>', obj.pk, _outcomes(obj)
        )

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
        now = database_now()
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} ({}, {} attempt(s)): {}{}</li>",
                (
                    (
                        r.email,
                        r.status,
                        r.attempts,
                        r.last_error[:_ERROR_CHARS],
                        next_try_note(r, now=now),
                    )
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

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/progress/",
                view(self.progress_view),
                name="notifications_bulksend_progress",
            ),
            path(
                "<path:object_id>/cancel/",
                view(self.cancel_view),
                name="notifications_bulksend_cancel",
            ),
            *super().get_urls(),
        ]

    def _bulk_send(self, request: HttpRequest, object_id: str) -> BulkSend:
        bulk = self.get_object(request, unquote(object_id))
        if bulk is None:
            raise Http404("No such bulk send.")
        if not self.has_view_permission(request, bulk):
            raise PermissionDenied
        return bulk

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """What the page's script polls while the send runs."""
        bulk = self._bulk_send(request, object_id)
        progress = bulk_send_progress(bulk)
        status = bulk_send_status(bulk)
        body: dict[str, Any] = {
            "status": status,
            "running": status not in FINAL,
            "outcomes": _outcomes(bulk),
        }
        if progress is not None:
            body.update(
                total=progress.total,
                settled=progress.settled,
                percent=round(progress.percent, 1),
                summary=progress.summary(),
            )
        return JsonResponse(body)  # admin_view makes it never cached

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        bulk = self._bulk_send(request, object_id)
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        job = bulk_send_cancel(bulk_send=bulk)
        status = job.status if job is not None else bulk_send_status(bulk)
        self.message_user(request, f"Bulk send {bulk.public_id}: {status}.")
        change = reverse("admin:notifications_bulksend_change", args=[bulk.pk])
        return HttpResponseRedirect(change)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        bulk = self.get_object(request, unquote(object_id)) if object_id else None
        running = bulk is not None and bulk_send_status(bulk) not in FINAL
        extra = {
            **(extra_context or {}),
            "bulk_running": running,
            "can_cancel": running and self.has_cancel_permission(request),
            "refresh_seconds": _NOSCRIPT_REFRESH_SECONDS if running else 0,
        }
        return super().changeform_view(request, object_id, form_url, extra)


def _outcomes(bulk: BulkSend) -> str:
    counts = bulk_send_counts(bulk)
    return ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "-"
