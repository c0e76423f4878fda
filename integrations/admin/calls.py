"""The provider-call log in the admin: read-only, filterable, never editable.

Rows carry metadata only (no bodies, no secrets), so staff can read them all.
"""

from django.contrib import admin

from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.models import ProviderCall


@admin.register(ProviderCall)
class ProviderCallAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
    # Read-only, delete included: retention is the prune job's business.
