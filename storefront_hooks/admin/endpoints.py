"""Endpoints: success rate and last error in the list; add and change go
through the services; the secret is shown once after an add or a rotation;
buttons to send a test event and open the delivery log."""

import re
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from integrations.admin.search import PublicIdSearchMixin
from integrations.models import DeliveryStatus
from storefront_hooks import catalog, services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.services.hold import hold_text

RATE_WINDOW = timedelta(days=7)
EDITABLE = ["url", "description", "event_types", "mode"]
# The user name and password of a URL, after its scheme if it has one. A
# password typed with a raw "/", "?" or "#" (a base64 token) runs to the "@".
_USERINFO = re.compile(r"^([^/?#]*//)?(?:[^/?#@:]*:(?!//)[^@]*|[^/?#@]*)@")


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    event_types = forms.CharField(
        help_text="Comma separated: exact names or prefix.*. Known: "
        + ", ".join(catalog.EVENT_TYPES),
    )

    class Meta:
        model = WebhookEndpoint
        fields = EDITABLE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["event_types"] = ", ".join(self.instance.event_types)

    def clean_event_types(self) -> list[str]:
        raw = self.cleaned_data["event_types"]
        return [part.strip() for part in raw.split(",") if part.strip()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        types = data.get("event_types", [])
        if self.instance.pk and "event_types" not in self.changed_data:
            # Left as stored (not saved): a row saved with repeats before they
            # were refused keeps its other fields changeable, as in the API.
            types = list(dict.fromkeys(types))
        try:
            services.endpoint_check(data.get("url", ""), data.get("mode", ""), types)
        except services.EndpointInvalid as exc:
            self.add_error(exc.param, exc.message)
            self._hide_password()
        return data

    def _hide_password(self) -> None:
        # A refused URL is shown again in its field: never with its user
        # name or password (either may be a token).
        name = self.add_prefix("url")
        value = self.data.get(name, "")
        hidden = _USERINFO.sub(r"\1***@", value)
        if hidden != value:
            self.data = self.data.copy()
            self.data[name] = hidden


def _secret_page(
    request: HttpRequest, endpoint: WebhookEndpoint, secret: str, *, rotated: bool
) -> HttpResponse:
    change_url = reverse(
        "admin:storefront_hooks_webhookendpoint_change", args=[endpoint.pk]
    )
    context = {
        **admin.site.each_context(request),
        "title": "Signing secret",
        "endpoint": endpoint,
        "secret": secret,
        "rotated": rotated,
        "change_url": change_url,
    }
    response = TemplateResponse(
        request, "admin/storefront_hooks/secret_once.html", context
    )
    response["Cache-Control"] = "no-store"
    return response


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(PublicIdSearchMixin, admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "url",
        "public_id",
        "enabled",
        "success_rate",
        "last_error",
        "disabled_reason",
        "paused",
        "held",
    ]
    list_filter = ["enabled", "mode"]
    list_select_related = ["account"]
    search_fields = ["url", "public_id", "description"]
    readonly_fields = [
        "public_id",
        "enabled",
        "disabled_reason",
        "disabled_at",
        "paused",
        "held",  # a receiver's Retry-After, which holds its rows
    ]
    actions = [
        "enable_endpoints",
        "disable_endpoints",
        "discard_waiting",
        "lift_retry_after_hold",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        since = timezone.now() - RATE_WINDOW
        recent = Q(deliveries__last_attempt_at__gte=since)
        delivered = recent & Q(deliveries__status=DeliveryStatus.DELIVERED)
        last_error = (
            WebhookDelivery.objects.filter(endpoint=OuterRef("pk"))
            .exclude(last_error="")
            .order_by("-last_attempt_at", "-pk")
            .values("last_error")[:1]
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_attempted=Count("deliveries", filter=recent),
                n_delivered=Count("deliveries", filter=delivered),
                recent_error=Subquery(last_error),
            )
        )

    @admin.display(description="Success (7 days)")
    def success_rate(self, obj: WebhookEndpoint) -> str:
        if not getattr(obj, "n_attempted", 0):
            return "-"
        return f"{100 * obj.n_delivered / obj.n_attempted:.0f}% of {obj.n_attempted}"

    @admin.display(description="Deliveries paused")
    def paused(self, obj: WebhookEndpoint) -> str:
        return services.endpoint_pause_text(obj) if obj.pk else ""

    @admin.display(description="Deliveries held")
    def held(self, obj: WebhookEndpoint) -> str:
        # A hold that passed reads as none.
        return hold_text(obj, timezone.now())

    @admin.display(description="Last error")
    def last_error(self, obj: WebhookEndpoint) -> str:
        return (getattr(obj, "recent_error", "") or "")[:120]

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        data = {name: form.cleaned_data[name] for name in EDITABLE}
        if change:
            # Only what staff changed, on the row as stored: a 410's disable,
            # the streak or a secret rotated since the page loaded stay.
            changed = {k: v for k, v in data.items() if k in form.changed_data}
            try:
                services.endpoint_update(endpoint=obj, **changed)
            except WebhookEndpoint.DoesNotExist:
                raise Http404("This endpoint was deleted meanwhile.") from None
            return
        endpoint, secret = services.endpoint_create(**data)
        obj.pk, obj.public_id = endpoint.pk, endpoint.public_id
        obj.account_id, obj.secrets_encrypted = endpoint.account_id, ""
        request._endpoint_secret = secret  # shown once by response_add

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url: Any = None
    ) -> HttpResponse:
        endpoint = WebhookEndpoint.objects.get(pk=obj.pk)
        return _secret_page(request, endpoint, request._endpoint_secret, rotated=False)

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        services.endpoint_delete(endpoint=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint)

    @admin.action(description="Enable (sends what is pending)", permissions=["change"])
    def enable_endpoints(self, request: HttpRequest, queryset: QuerySet) -> None:
        sent = sum(services.endpoint_enable(endpoint=e) for e in queryset)
        messages.success(request, f"Enabled; {sent} pending deliveries queued.")

    @admin.action(description="Disable", permissions=["change"])
    def disable_endpoints(self, request: HttpRequest, queryset: QuerySet) -> None:
        who = request.user.get_username()
        for endpoint in queryset:
            services.endpoint_disable(endpoint=endpoint, reason=f"Disabled by {who}.")
        messages.success(request, "Disabled.")

    @admin.action(
        description="Lift the Retry-After hold (sends what it held)",
        permissions=["change"],
    )
    def lift_retry_after_hold(self, request: HttpRequest, queryset: QuerySet) -> None:
        who = request.user.get_username()
        lifted = 0
        for endpoint in queryset:
            queued = services.endpoint_hold_lift(endpoint=endpoint, actor=who)
            if queued >= 0:
                lifted += 1
                self.log_change(
                    request, endpoint, f"Retry-After hold lifted; {queued} queued."
                )
        if lifted:
            messages.success(request, f"Retry-After hold lifted on {lifted}.")
        else:
            messages.info(request, "Not held by a Retry-After: nothing lifted.")

    @admin.action(
        description="Discard waiting deliveries (disabled endpoints)",
        permissions=["change"],
    )
    def discard_waiting(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        disabled = list(queryset.filter(enabled=False))
        if request.POST.get("post") == "yes":
            who = request.user.get_username()
            count = sum(
                services.endpoint_waiting_discard(endpoint=e, actor=who)
                for e in disabled
            )
            messages.success(request, f"{count} waiting deliveries discarded.")
            return None
        # First the confirmation page; it posts back to this action.
        waiting = [DeliveryStatus.PENDING, DeliveryStatus.FAILED]
        for endpoint in disabled:
            endpoint.n_waiting = endpoint.deliveries.filter(status__in=waiting).count()
        context = {
            **self.admin_site.each_context(request),
            "title": "Discard waiting deliveries",
            "endpoints": disabled,
            "skipped": list(queryset.filter(enabled=True)),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "cancel_url": reverse("admin:storefront_hooks_webhookendpoint_changelist"),
        }
        return TemplateResponse(
            request, "admin/storefront_hooks/discard_confirm.html", context
        )

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/send-test/",
                view(require_POST(self.send_test_view)),
                name="storefront_hooks_webhookendpoint_test",
            ),
            path(
                "<int:pk>/rotate-secret/",
                view(require_POST(self.rotate_view)),
                name="storefront_hooks_webhookendpoint_rotate",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", **kw: Any
    ) -> HttpResponse:
        log = reverse("admin:storefront_hooks_webhookdelivery_changelist")
        extra = {**(kw.get("extra_context") or {})}
        extra["delivery_log_url"] = f"{log}?endpoint__id__exact={object_id}"
        return super().change_view(request, object_id, form_url, extra)

    def _changeable(self, request: HttpRequest, pk: int) -> WebhookEndpoint:
        endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        return endpoint

    def send_test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = self._changeable(request, pk)
        delivery = services.test_event_send(endpoint=endpoint)
        messages.success(request, f"Test event {delivery.public_id} queued.")
        log = reverse("admin:storefront_hooks_webhookdelivery_changelist")
        return HttpResponseRedirect(f"{log}?endpoint__id__exact={pk}")

    def rotate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = self._changeable(request, pk)
        secret = services.endpoint_secret_rotate(endpoint=endpoint)
        return _secret_page(request, endpoint, secret, rotated=True)
