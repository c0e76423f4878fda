"""Sync runs, and "sync now": a queued run enqueued on commit to the
workers; its page refreshes itself while it runs, showing the counters."""

from django.contrib import admin, messages
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.clock import database_now
from integrations.models import ProviderAccount
from inventory import services
from inventory.models import SyncRun, SyncStatus
from inventory.providers.base import CLOCK_SKEW
from inventory.services.sync_pages import failed_pages


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "pk",
        "account",
        "status",
        "full",
        "pages",
        "items_seen",
        "items_changed",
        "items_failed",
        "failed_pages_shown",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "account"]
    readonly_fields = ["high_water_shown"]
    list_select_related = ["account"]
    change_list_template = "admin/inventory/syncrun/change_list.html"
    change_form_template = "admin/inventory/syncrun/change_form.html"

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(require_POST(self.sync_now_view))
        return [
            path("sync-now/", view, name="inventory_syncrun_sync_now"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        accounts = ProviderAccount.objects.filter(kind="inventory", enabled=True)
        extra = {
            "inventory_accounts": accounts.order_by("priority", "slug"),
            "can_sync": self._can_sync(request),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        run = self.get_object(request, object_id)
        running = run is not None and run.status in (
            SyncStatus.QUEUED,
            SyncStatus.RUNNING,
        )
        extra = {**(extra_context or {}), "refresh_seconds": 3 if running else 0}
        return super().change_view(request, object_id, form_url, extra)

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> list:
        # The raw ERP time gives way to one that says when it is not credible.
        fields = [
            f for f in super().get_fields(request, obj) if f != "high_water_shown"
        ]
        return ["high_water_shown" if f == "high_water" else f for f in fields]

    @admin.display(description="failed pages")
    def failed_pages_shown(self, run: SyncRun) -> int:
        # Every one: the errors keep only the first MAX_ERRORS_KEPT.
        return failed_pages(run)

    @admin.display(description="high water (newest ERP time seen)")
    def high_water_shown(self, run: SyncRun) -> str:
        """The ERP's newest modification time, kept as it sent it: one
        further ahead of our clock than an unremarked skew is marked, so
        staff do not take a fast clock or a data error for a real time."""
        if run.high_water is None:
            return "-"
        shown = timezone.localtime(run.high_water).isoformat(timespec="seconds")
        lead = run.high_water - database_now()  # the clock our stamps keep
        if lead <= CLOCK_SKEW:
            return shown
        hours = lead.total_seconds() / 3600
        return (
            f"{shown} (ahead of our clock by {hours:,.1f} h: the ERP's clock or "
            "data is wrong; not used to choose what the next sync asks for)"
        )

    def _can_sync(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inventory.add_syncrun") or (
            request.user.is_superuser
        )

    def sync_now_view(self, request: HttpRequest) -> HttpResponse:
        back = reverse("admin:inventory_syncrun_changelist")
        if not self._can_sync(request):
            self.message_user(request, "You may not start syncs.", messages.ERROR)
            return HttpResponseRedirect(back)
        raw = request.POST.get("account", "")
        # A tampered form's id names no account (and never reaches int()).
        pk = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0
        account = ProviderAccount.objects.filter(kind="inventory", pk=pk).first()
        if account is None:
            self.message_user(request, "Choose an inventory account.", messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            # Its first task is enqueued on commit, one time budget each.
            run = services.sync_run_queue(account=account, full="full" in request.POST)
        except services.InventoryError as error:
            self.message_user(request, error.message, messages.WARNING)
            return HttpResponseRedirect(back)
        self.message_user(request, f"Sync of {account.slug} queued.")
        return HttpResponseRedirect(
            reverse("admin:inventory_syncrun_change", args=[run.pk])
        )
