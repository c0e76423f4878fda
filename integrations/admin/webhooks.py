"""Webhook history: read-only, with replay of one or many events.

The stored request is evidence, so nothing here edits it. Replay goes through
the same service as the first delivery (handlers are idempotent); a row stored
dead as an unusable body is read again instead (webhooks.recovery), and what
became of it is written to the row and to its history.
"""

import json
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
)
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from integrations.models import WebhookEvent
from integrations.webhooks import recovery

_RAW_BODY_PREVIEW = 20_000


def _pre(text: str) -> SafeString:
    # format_html escapes the text: a payload is attacker-supplied.
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "account",
        "event_type",
        "status",
        "attempts",
        "received_at",
        "processed_at",
        "error_summary",
    ]
    list_filter = ["account", "status", "event_type", "received_at"]
    list_select_related = ["account"]
    date_hierarchy = "received_at"
    # "=correlation_id": every event of one request (it shares the id).
    search_fields = ["dedupe_key", "event_type", "=correlation_id"]
    actions = ["replay_selected"]
    fields = [
        "account",
        "event_type",
        "dedupe_key",
        "status",
        "note",
        "recovered_as",
        "subject",
        "attempts",
        "next_attempt_at",
        "received_at",
        "occurred_at",
        "claimed_at",
        "processed_at",
        "correlation_id",
        "error",
        "pretty_payload",
        "pretty_headers",
        "raw_body_text",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: WebhookEvent | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: WebhookEvent | None = None
    ) -> bool:
        return False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_webhookevent")

    def get_fields(
        self, request: HttpRequest, obj: WebhookEvent | None = None
    ) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if obj is not None and self.has_replay_permission(request):
            fields.insert(0, "replay_button")
        return fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: WebhookEvent | None = None
    ) -> list[str]:
        return [*self.fields, "replay_button"]

    @admin.display(description="Error")
    def error_summary(self, obj: WebhookEvent) -> str:
        return obj.last_error[:80]

    @admin.display(description="Processing error")
    def error(self, obj: WebhookEvent) -> SafeString | str:
        return _pre(obj.last_error) if obj.last_error else "-"

    @admin.display(description="Recovered as")
    def recovered_as(self, obj: WebhookEvent) -> SafeString | str:
        """The events an unusable body became once replay could read it."""
        done = (obj.payload or {}).get(recovery.RECOVERED_KEY)
        if not isinstance(done, dict):
            return "-"
        ids = [*done.get("new", []), *done.get("old", [])]
        links = [
            format_html(
                '<a href="{}">#{}</a>',
                reverse("admin:integrations_webhookevent_change", args=[pk]),
                pk,
            )
            for pk in ids
        ]
        return format_html_join(", ", "{}", ((link,) for link in links)) or "-"

    @admin.display(description="Payload")
    def pretty_payload(self, obj: WebhookEvent) -> SafeString:
        return _pre(json.dumps(obj.payload, indent=2, sort_keys=True))

    @admin.display(description="Headers (secrets never stored)")
    def pretty_headers(self, obj: WebhookEvent) -> SafeString:
        return _pre(json.dumps(obj.headers, indent=2, sort_keys=True))

    @admin.display(description="Raw body")
    def raw_body_text(self, obj: WebhookEvent) -> SafeString:
        raw = bytes(obj.raw_body or b"")
        text = raw[:_RAW_BODY_PREVIEW].decode("utf-8", errors="replace")
        if len(raw) > _RAW_BODY_PREVIEW:
            text += f"\n... ({len(raw)} bytes in all)"
        return _pre(text)

    @admin.display(description="Replay")
    def replay_button(self, obj: WebhookEvent) -> SafeString:
        # The change page's form is posted to the replay URL instead: the page
        # is read-only, so the form carries nothing but the CSRF token.
        url = reverse("admin:integrations_webhookevent_replay", args=[obj.pk])
        return format_html(
            '<button type="submit" class="button" formaction="{}">'
            "Replay this event</button>",
            url,
        )

    @admin.action(description="Replay selected webhook events", permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        self._replay(request, ids)

    def _replay(self, request: HttpRequest, ids: list[int]) -> None:
        # The same history replay_webhooks writes, in the replay's transaction.
        replay = recovery.webhook_events_replay_chosen(
            event_ids=ids, user_id=request.user.pk
        )
        self.message_user(request, replay.summary)
        if replay.skipped:
            self.message_user(
                request,
                f"{replay.skipped} skipped: {recovery.SKIPPED}.",
                messages.WARNING,
            )
        for result in replay.recoveries:
            level = messages.SUCCESS if result.done else messages.WARNING
            text = f"Event #{result.event_id}: {result.text}"
            self.message_user(request, text, level)

    def get_urls(self) -> list[Any]:
        replay = path(
            "<path:object_id>/replay/",
            self.admin_site.admin_view(self.replay_view),
            name="integrations_webhookevent_replay",
        )
        return [replay, *super().get_urls()]

    def replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_replay_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such webhook event.")
        self._replay(request, [obj.pk])
        change_url = reverse("admin:integrations_webhookevent_change", args=[obj.pk])
        return HttpResponseRedirect(change_url)
