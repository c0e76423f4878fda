"""Fraud settings staff edit: blocklist entries and per-currency review
thresholds, each stamped with who changed it."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from integrations.admin.display import money_column
from payments.admin.common import actor
from payments.models import AmountThreshold, BlocklistEntry


@admin.register(BlocklistEntry)
class BlocklistEntryAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "reason", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["value", "reason"]
    fields = ["kind", "value", "reason"]

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
