"""Fraud settings staff edit: blocklist entries and per-currency review
thresholds, each stamped with who changed it."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.admin.display import money_column
from payments.admin.common import actor
from payments.models import AmountThreshold, BlocklistEntry, email_canonical


@admin.register(BlocklistEntry)
class BlocklistEntryAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "reason", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["value", "reason"]
    fields = ["kind", "value", "reason"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        results, duplicates = super().get_search_results(request, queryset, search_term)
        # E-mail entries keep their domain in ASCII: a search in its Unicode
        # (or full-width) spelling finds them too.
        term = search_term.strip()
        if term and not term.isascii():
            encoded = email_canonical(term if "@" in term else f"@{term}")
            encoded = encoded if "@" in term else encoded[1:]
            if encoded != term.lower():
                results |= queryset.filter(value__icontains=encoded)
        return results, duplicates

    def save_model(
        self, request: HttpRequest, obj: BlocklistEntry, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = actor(request)
        super().save_model(request, obj, form, change)


@admin.register(AmountThreshold)
class AmountThresholdAdmin(admin.ModelAdmin):
    list_display = ["currency", "threshold", "updated_by", "updated_at"]
    fields = ["currency", "amount"]

    threshold = money_column("amount", description="Threshold", ordering="amount")

    def save_model(
        self, request: HttpRequest, obj: AmountThreshold, form: Any, change: bool
    ) -> None:
        obj.updated_by = actor(request)
        super().save_model(request, obj, form, change)
