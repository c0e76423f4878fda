"""Domain events (outbox): read-only, with each event's deliveries inline and
a retry for deliveries that failed or gave up."""

import json

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.events import event_deliveries_retry
from integrations.models import DeliveryStatus, Event, EventDelivery


class EventDeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = EventDelivery
    extra = 0
    can_delete = False
    fields = [
        "subscriber",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    readonly_fields = fields


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "name", "subject", "created_at", "deliveries_summary"]
    list_filter = ["name", "created_at", "deliveries__status"]
    date_hierarchy = "created_at"
    search_fields = ["name", "subject", "correlation_id"]
    fields = ["name", "subject", "created_at", "correlation_id", "pretty_payload"]
    readonly_fields = fields
    inlines = [EventDeliveryInline]
    actions = ["retry_failed_deliveries"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        delivered = Q(deliveries__status=DeliveryStatus.DELIVERED)
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_deliveries=Count("deliveries"),
                n_delivered=Count("deliveries", filter=delivered),
            )
        )

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_eventdelivery")

    @admin.display(description="Delivered")
    def deliveries_summary(self, obj: Event) -> str:
        return f"{obj.n_delivered}/{obj.n_deliveries}"

    @admin.display(description="Payload")
    def pretty_payload(self, obj: Event) -> SafeString:
        text = json.dumps(obj.payload, indent=2, sort_keys=True)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    @admin.action(description="Retry failed or dead deliveries", permissions=["retry"])
    def retry_failed_deliveries(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(
            EventDelivery.objects.filter(
                event__in=queryset,
                status__in=[DeliveryStatus.FAILED, DeliveryStatus.DEAD],
            ).values_list("pk", flat=True)
        )
        count = event_deliveries_retry(delivery_ids=ids)
        self.message_user(request, f"{count} delivery(ies) queued again.")
