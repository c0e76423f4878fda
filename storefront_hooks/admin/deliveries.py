"""The delivery log: every delivery with its attempts, last answer and next
retry; "send again" for one or many."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(PublicIdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "public_id",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_duration_ms",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type", "endpoint"]
    search_fields = ["public_id", "event_type", "endpoint__url"]
    date_hierarchy = "created_at"
    list_select_related = ["endpoint"]
    fields = [
        "public_id",
        "endpoint",
        "event",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_duration_ms",
        "last_attempt_at",
        "next_attempt_at",
        "waits_for_slot",  # held back by the in-flight cap, handed the next slot
        "delivered_at",
        "last_error",
        "last_response",
        "body",
        "created_at",
        "restarted_at",  # the age limit counts from it when set
    ]
    readonly_fields = fields
    actions = ["send_again"]

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("storefront_hooks.change_webhookendpoint")

    @admin.action(description="Send again", permissions=["send"])
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.deliveries_resend(
            delivery_ids=list(queryset.values_list("pk", flat=True))
        )
        messages.success(request, f"{count} deliveries queued to be sent again.")
