"""The provider-call log in the admin: read-only, filterable, never editable.

Rows carry metadata only (no bodies, no secrets), so staff can read them all.
"""

from django.contrib import admin
from django.http import HttpRequest

from integrations.models import ProviderCall


@admin.register(ProviderCall)
class ProviderCallAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "account",
        "operation",
        "outcome",
        "http_status",
        "attempts",
        "duration_ms",
        "error_code",
        "correlation_id",
    ]
    list_filter = ["account", "operation", "outcome", "started_at"]
    date_hierarchy = "started_at"
    search_fields = ["correlation_id", "idempotency_key", "operation"]
    list_select_related = ["account"]
    ordering = ["-started_at"]
    # Large tables: no full COUNT(*) under the filters on every page.
    show_full_result_count = False
    readonly_fields = [f.name for f in ProviderCall._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ProviderCall | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ProviderCall | None = None
    ) -> bool:
        # Retention is the prune job's business, not a click.
        return False
