"""Notifications in the admin: the email log with its event timeline, a
resend action (refused for suppressed addresses), template previews and
analytics (``admin_pages``), suppressions (add; remove
with a reason), the sandbox's mailbox and bulk sends."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import BooleanField, F, Func, QuerySet, Value
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from integrations.admin.timeline import TimelineAdminMixin
from integrations.batch import next_try_words
from integrations.clock import database_now
from integrations.timeline import TimelineEntry
from notifications import admin_pages
from notifications.admin_search import AddressSearchMixin
from notifications.models import (
    REACTIVATION_NOTE,
    EmailMessage,
    SandboxEmail,
    Suppression,
)
from notifications.selectors import email_next_try
from notifications.services import (
    EmailInvalid,
    email_message_resend,
    suppression_add,
    suppression_remove,
)
from notifications.timeline import email_timeline


@admin.register(EmailMessage)
class EmailMessageAdmin(
    AddressSearchMixin,
    PublicIdSearchMixin,
    TimelineAdminMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    list_display = (
        "public_id",
        "to_email",
        "template",
        "status",
        "account",
        "created_at",
    )
    list_filter = ("status", "category", "template", "account")
    search_fields = ("public_id", "to_email", "provider_message_id", "order_id")
    date_hierarchy = "created_at"
    actions = ["resend"]
    change_list_template = "admin/notifications/emailmessage/change_list.html"
    readonly_fields = ("next_try",)

    @admin.display(description="next try")
    def next_try(self, obj: EmailMessage) -> str:
        at = email_next_try(obj)
        if at is None:
            return "-"
        return f"waiting, next try {next_try_words(at)}"

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "preview/",
                view(self._staff_page(admin_pages.template_preview)),
                name="notifications_emailmessage_preview",
            ),
            path(
                "analytics/",
                view(self._staff_page(admin_pages.analytics)),
                name="notifications_emailmessage_analytics",
            ),
            *super().get_urls(),
        ]

    def _staff_page(self, page: Callable[[HttpRequest], Any]) -> Callable:
        """``page`` for staff who may view the email log."""

        def guarded(request: HttpRequest) -> Any:
            if not self.has_view_permission(request):
                raise PermissionDenied
            return page(request)

        return guarded

    def get_timeline(self, obj: EmailMessage) -> list[TimelineEntry]:
        return email_timeline(obj)

    def has_resend_permission(self, request: HttpRequest) -> bool:
        # A resend sends mail: more than reading the log. The page itself is
        # read-only, so the model's change permission is the one asked for.
        return request.user.has_perm("notifications.change_emailmessage")

    @admin.action(description="Resend selected messages", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet) -> None:
        for message in queryset:
            try:
                copy = email_message_resend(message=message)
            except EmailInvalid as error:
                self.message_user(
                    request, f"{message.public_id}: {error}", messages.ERROR
                )
            else:
                self.message_user(
                    request, f"{message.public_id} resent as {copy.public_id}"
                )


# Where a provider's stop came from, and the adds it absorbed: what decides
# whether that provider's reactivation lifts it.
_PROVIDER_ORIGIN = ("account", "stream", "occurred_at", "reactivated_at", "absorbed")


_CHANGED = (
    "{} changed since the page was drawn (a provider's event or another "
    "removal): it was not removed. Look at it again."
)
_ALREADY = "{} selected suppression(s) were already removed: nothing to do."
_UNDRAWN = (
    "This form does not say which version of the suppression it showed: "
    "reload the page and give the reason again."
)


class SuppressionForm(forms.ModelForm):
    # The row's version as the page showed it: a removal names it.
    seen_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["seen_version"].initial = self.instance.version

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # As posted: a row closed meanwhile has no reason field any more.
        if self.instance.pk is None or not self.data.get("removed_reason", ""):
            return data
        seen = data.get("seen_version")
        if self.instance.removed_at is None and seen is None:
            # Every drawn form carries it: without it the check would be
            # skipped and whatever the row is now removed.
            raise forms.ValidationError(_UNDRAWN)
        if self.instance.removed_at is not None or seen != self.instance.version:
            raise forms.ValidationError(_CHANGED.format("This suppression"))
        return data


class SuppressionActionForm(ActionForm):
    # When the list was drawn (``drawn_mark``, set by the changelist view):
    # "select all" removes no row that was not yet there.
    drawn_at = forms.CharField(label="", required=False, widget=forms.HiddenInput)
    drawn_snapshot = forms.CharField(label="", required=False, widget=forms.HiddenInput)


def drawn_mark() -> dict[str, str]:
    """When a list page is drawn, read before its results. PostgreSQL: the
    snapshot of committed transactions (a row is seen from its commit, not
    its INSERT's time). SQLite: the database's clock, which stamps each
    row's created_at (a worker's clock and this process's may differ)."""
    mark = {"drawn_at": database_now().isoformat(), "drawn_snapshot": ""}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_snapshot()::text")
            (mark["drawn_snapshot"],) = cursor.fetchone()
    return mark


class SuppressionChangeList(ChangeList):
    drawn_mark: dict[str, str] | None = None

    def get_results(self, request: HttpRequest) -> None:
        # Before the results are read: a row committed in between is drawn.
        self.drawn_mark = drawn_mark()
        # "N total" links to the default list, which shows active entries
        # only: count those, not the history and notes behind other states.
        root = self.root_queryset
        self.root_queryset = root.filter(removed_at__isnull=True)
        try:
            super().get_results(request)
        finally:
            self.root_queryset = root


class SuppressionStateFilter(admin.SimpleListFilter):
    """Active entries unless asked: removed ones (history) and reactivation
    notes (closed when made, only a time kept) would bury the real stops."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list:
        return [
            ("removed", "Removed"),
            ("notes", "Reactivation notes"),
            ("all", "All"),
        ]

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Active",
        }
        for value, title in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: value}
                ),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "removed":
            return queryset.filter(removed_at__isnull=False).exclude(REACTIVATION_NOTE)
        if value == "notes":
            return queryset.filter(REACTIVATION_NOTE)
        if value == "all":
            return queryset
        return queryset.filter(removed_at__isnull=True)


@admin.register(Suppression)
class SuppressionAdmin(AddressSearchMixin, admin.ModelAdmin):
    form = SuppressionForm
    list_display = ("address", "reason", "source", "created_at", "removed_at")
    list_filter = (SuppressionStateFilter, "reason")
    search_fields = ("address",)
    fields = ("address", "reason", "source", "removed_reason")
    readonly_fields = ("source",)
    actions = ["remove"]
    action_form = SuppressionActionForm

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type:
        return SuppressionChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        # The action form carries the mark the changelist took before its
        # results (the form itself is rendered after them).
        context = getattr(response, "context_data", None) or {}
        form, changelist = context.get("action_form"), context.get("cl")
        if form is not None and getattr(changelist, "drawn_mark", None):
            form.initial.update(changelist.drawn_mark)
        return response

    def action_checkbox(self, obj: Suppression) -> str:
        # Each row's version as drawn, posted with the action: the removal
        # names it (``remove``).
        return format_html(
            '{}<input type="hidden" name="_seen" value="{}:{}">',
            super().action_checkbox(obj),
            obj.pk,
            obj.version,
        )

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Removal keeps the row and the reason: the "remove" action, or a
        # reason given on the change form.
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return list(self.fields)
        return [
            "address",
            "reason",
            "source",
            "created_at",
            "removed_at",
            "removed_reason",
            *_PROVIDER_ORIGIN,
            *(["seen_version"] if obj.removed_at is None else []),
        ]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        help_text = "To remove this suppression, say why and save."
        if obj is not None and obj.removed_at is None:
            kwargs["help_texts"] = {"removed_reason": help_text}
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["source"]
        # What a suppression says is history; only removal changes it.
        fixed = [
            "address",
            "reason",
            "source",
            "created_at",
            "removed_at",
            *_PROVIDER_ORIGIN,
        ]
        return fixed + (["removed_reason"] if obj.removed_at else [])

    def save_model(self, request, obj, form, change) -> None:
        if change:
            # A reason given for an active suppression removes it, through
            # the service; nothing else on a suppression is edited.
            reason = form.cleaned_data.get("removed_reason", "").strip()
            if obj.removed_at is None and reason:
                removed = suppression_remove(
                    address=obj.address,
                    reason=reason,
                    suppression_id=obj.pk,
                    version=form.cleaned_data.get("seen_version"),
                )
                obj.refresh_from_db()
                # Changed after the form was checked: said by response_change.
                obj.removal_refused = removed is None
            return None
        created = suppression_add(
            address=obj.address, reason=obj.reason, source=f"admin:{request.user}"
        )
        obj.pk = created.pk
        if created.reason != obj.reason:
            # An entry as strong was there already: say so, not silently.
            self.message_user(
                request,
                f"{created.address} was already suppressed "
                f"({created.get_reason_display()}); that entry is kept.",
                messages.WARNING,
            )

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        # A removal the service refused changed nothing: no history entry.
        if getattr(obj, "removal_refused", False):
            return None
        return super().log_change(request, obj, message)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if getattr(obj, "removal_refused", False):
            # Not "changed successfully": back to the row as it is now.
            self.message_user(request, _CHANGED.format(str(obj)), messages.ERROR)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    @admin.action(description="Remove selected suppressions", permissions=["change"])
    def remove(self, request: HttpRequest, queryset: QuerySet) -> None:
        page = DrawnPage.posted(request.POST)
        # As Django's action form reads it ("1" from its script).
        across = forms.BooleanField(required=False).clean(
            request.POST.get("select_across")
        )
        removed, already, changed = 0, 0, []
        for item in page.judged(queryset):
            outcome = _remove_row(
                item, page, across=across, by=f"removed by {request.user}"
            )
            if outcome == _REMOVED:
                removed += 1
            elif outcome == _WAS_REMOVED:
                already += 1
            else:
                changed.append(str(item))
        if removed:
            self.message_user(request, f"{removed} suppression(s) removed.")
        if already:
            self.message_user(request, _ALREADY.format(already), messages.WARNING)
        if changed:
            self.message_user(
                request, _CHANGED.format(", ".join(changed)), messages.ERROR
            )


_REMOVED, _WAS_REMOVED, _REFUSED = "removed", "already removed", "refused"


@dataclass(frozen=True)
class DrawnPage:
    """What the list page showed: each drawn row's version, the addresses
    drawn and when it was drawn (``drawn_mark``; None if not posted)."""

    versions: dict[int, int]
    addresses: frozenset[str]
    drawn_at: datetime | None
    snapshot: str | None

    @classmethod
    def posted(cls, data: Any) -> "DrawnPage":
        versions = _seen_versions(data.getlist("_seen"))
        addresses = Suppression.objects.filter(pk__in=versions).values_list(
            "address", flat=True
        )
        snapshot = data.get("drawn_snapshot") or ""
        return cls(
            versions,
            frozenset(addresses),
            _posted_time(data.get("drawn_at")),
            snapshot if _SNAPSHOT_RE.fullmatch(snapshot) else None,
        )

    def judged(self, queryset: QuerySet) -> QuerySet:
        """PostgreSQL: each row marked with whether the transaction that
        inserted it had committed when the page was drawn."""
        if connection.vendor != "postgresql" or self.snapshot is None:
            return queryset
        return queryset.annotate(
            committed_when_drawn=VisibleInSnapshot(
                F("created_xact"), Value(self.snapshot)
            )
        )

    def undrawn_may_go(self, item: Suppression) -> bool:
        """Whether a row the page did not show (all matching selected) may be
        removed as it is now: not one whose address the page showed under
        another id (what replaced it, or was restored under it), nor one
        not yet there when the page was drawn: inserted since, or by a
        transaction that had not committed (PostgreSQL; ``judged``)."""
        if item.address in self.addresses:
            return False
        if connection.vendor == "postgresql":
            return getattr(item, "committed_when_drawn", None) is True
        if self.drawn_at is None:
            return False
        return item.created_at <= self.drawn_at


def _remove_row(item: Suppression, page: DrawnPage, *, across: bool, by: str) -> str:
    seen = page.versions.get(item.pk)
    if item.removed_at is not None:
        # Closed when drawn (or never drawn): nothing changed, nothing to do.
        return _WAS_REMOVED if seen in (None, item.version) else _REFUSED
    # A ticked row is named by its id (the service refuses another active
    # row); "select all" reaches rows by the filter, so undrawn ones are
    # checked against what the page showed.
    if seen is None and across and not page.undrawn_may_go(item):
        return _REFUSED
    lifted = suppression_remove(
        address=item.address,
        reason=by,
        suppression_id=item.pk,
        version=item.version if seen is None else seen,
    )
    return _REMOVED if lifted is not None else _REFUSED


class VisibleInSnapshot(Func):
    """PostgreSQL: whether transaction ``xact`` (an xid8 stored as a bigint)
    had committed in ``snapshot`` (pg_current_snapshot's text)."""

    function = "pg_visible_in_snapshot"
    template = "%(function)s(%(expressions)s::pg_snapshot)"
    arg_joiner = "::text::xid8, "
    output_field = BooleanField()


# pg_snapshot's text form, xmin:xmax:xip,... (checked before the cast).
_SNAPSHOT_RE = re.compile(r"[0-9]{1,20}:[0-9]{1,20}:(?:[0-9]{1,20}(?:,[0-9]{1,20})*)?")


def _posted_time(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else None


def _seen_versions(values: list[str]) -> dict[int, int]:
    """``pk:version`` pairs posted with the list (``action_checkbox``)."""
    seen = {}
    for value in values:
        pk, _, version = value.partition(":")
        # ASCII only: "²".isdigit() is true, int("²") raises.
        if pk.isascii() and pk.isdigit() and version.isascii() and version.isdigit():
            seen[int(pk)] = int(version)
    return seen


@admin.register(SandboxEmail)
class SandboxEmailAdmin(AddressSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "provider_message_id",
        "to_email",
        "subject",
        "account",
        "created_at",
    )
    search_fields = ("to_email", "provider_message_id", "message_id")


# Bulk sends have their own module (progress, cancel).
from notifications import admin_bulk  # noqa: E402, F401
