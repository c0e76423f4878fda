from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import HttpRequest
from django.utils import timezone

from integrations import registry
from integrations.breaker import BreakerSnapshot, breaker_for
from integrations.crypto import CredentialsDecryptError
from integrations.forms import (
    SETTING_PREFIX,
    ProviderAccountForm,
    limit_fields,
)
from integrations.limits import BREAKER
from integrations.models import ProviderAccount
from integrations.selectors import breaker_snapshot
from integrations.services import provider_account_enabled_announce

LIMITS_NOTE = "Per-account limits; empty fields use the default shown in them."


class ProviderAccountAdminForm(ProviderAccountForm):
    class Meta(ProviderAccountForm.Meta):
        fields = [*ProviderAccountForm.Meta.fields, "breaker_mode"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Optional so a form posted without it keeps the current mode (absent
        # on a read-only page).
        if "breaker_mode" in self.fields:
            self.fields["breaker_mode"].required = False

    def clean_breaker_mode(self) -> str:
        mode = self.cleaned_data.get("breaker_mode") or self.instance.breaker_mode
        # Every process reads the mode from Redis: a change it cannot publish
        # would be undone by the stale published one once Redis is back.
        if mode != self.instance.breaker_mode and not _breaker_readable(self.instance):
            raise ValidationError(
                "Redis is unreachable: the breaker mode cannot be changed now."
            )
        return mode


def _breaker_readable(account: ProviderAccount) -> bool:
    return breaker_snapshot(account).state is not None


UNREADABLE = "unknown (Redis unreachable)"


def _describe_breaker(snap: BreakerSnapshot) -> str:
    text = snap.state.replace("_", "-") if snap.state else UNREADABLE
    if snap.opened_until is not None and snap.state == "open":
        until = timezone.localtime(snap.opened_until).strftime("%H:%M:%S")
        text += f" until {until}"
    if snap.mode != "auto":
        text += f" ({snap.mode.replace('_', ' ')})"
    return text


INTERNAL_FIELDS = ["kind", "provider", "display_name", "slug", "enabled", "mode"]


def _internal_fieldsets(obj: ProviderAccount) -> list:
    description = (
        f"This account belongs to a {obj.internal_owner} and is made, changed "
        "and deleted with it; it is shown here read-only."
    )
    fields = [*INTERNAL_FIELDS, "settings", "breaker_mode", "breaker_state"]
    return [(None, {"fields": fields, "description": description})]


def _view_only_fieldsets() -> list:
    # The page of a user who may not change the account: model fields and
    # whether each credential is set, never a form field holding one.
    main = ["kind", "provider", "display_name", "slug", "priority", "enabled", "mode"]
    breaker = ["breaker_mode", "breaker_state", "breaker_last_transition"]
    return [
        (None, {"fields": main}),
        (
            "Credentials",
            {
                "fields": ["credentials_state"],
                "description": "Stored values are never shown.",
            },
        ),
        ("Settings and limits", {"fields": ["settings"]}),
        ("Circuit breaker", {"fields": breaker}),
    ]


def _describe_credentials(account: ProviderAccount) -> str:
    """Which credentials are set, by label; never a value."""
    try:
        stored = account.get_credentials()
    except CredentialsDecryptError:
        return "unreadable: no configured key decrypts them"
    try:
        adapter = registry.get_adapter_class(account.kind, account.provider)
        names = [(spec.name, spec.label) for spec in adapter.credential_fields]
    except (registry.UnknownProvider, ImproperlyConfigured):
        names = [(name, name) for name in sorted(stored)]
    return (
        "; ".join(
            f"{label}: {'set' if stored.get(name) else 'not set'}"
            for name, label in names
        )
        or "none"
    )


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    form = ProviderAccountAdminForm
    list_display = [
        "display_name",
        "kind",
        "provider",
        "slug",
        "priority",
        "enabled",
        "mode",
        "breaker_state",
    ]
    list_display_links = ["display_name"]
    # Staff flip failover order right in the change list.
    list_editable = ["priority", "enabled"]
    list_filter = ["kind", "provider", "enabled", "mode"]
    search_fields = ["slug", "display_name", "provider"]
    prepopulated_fields = {"slug": ["display_name"]}
    ordering = ["kind", "priority", "slug"]
    readonly_fields = ["breaker_state", "breaker_last_transition"]

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and (match.url_name or "").endswith("_changelist"):
            # Internal accounts are listed by their owner (a webhook endpoint).
            return queryset.providers()
        return queryset

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.internal_owner:
            return False  # its owner makes, changes and deletes it
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.internal_owner:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="Credentials")
    def credentials_state(self, obj: ProviderAccount) -> str:
        return _describe_credentials(obj)

    @admin.display(description="Breaker")
    def breaker_state(self, obj: ProviderAccount) -> str:
        return _describe_breaker(breaker_snapshot(obj)) if obj.pk else "-"

    @admin.display(description="Last breaker transition")
    def breaker_last_transition(self, obj: ProviderAccount) -> str:
        snap = breaker_snapshot(obj) if obj.pk else None
        if snap is not None and snap.state is None:
            return UNREADABLE
        if snap is None or snap.last_transition_at is None:
            return "none yet"
        at = timezone.localtime(snap.last_transition_at).strftime("%Y-%m-%d %H:%M:%S")
        return f"{snap.last_state.replace('_', ' ')} at {at}: {snap.last_reason}"

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if "breaker_mode" in form.changed_data:
            # Every process obeys the new mode at its next call.
            breaker_for(obj).publish_mode(
                previous=form.initial.get("breaker_mode"),
                actor=request.user.get_username(),
            )
        if obj.enabled and (not change or "enabled" in form.changed_data):
            # Subscribers may resume work that waited for one (emails).
            provider_account_enabled_announce(account=obj)

    def get_fieldsets(self, request: HttpRequest, obj: ProviderAccount | None = None):
        if obj is not None and obj.internal_owner:
            return _internal_fieldsets(obj)
        if not self._editable(request, obj):
            return _view_only_fieldsets()
        form = self._get_form_for_fieldsets(request, obj)
        adapter = form.adapter_class if form is not None else None
        fieldsets = [
            (
                None,
                {
                    "fields": [
                        "kind",
                        "provider",
                        "display_name",
                        "slug",
                        "priority",
                        "enabled",
                        "mode",
                    ]
                },
            )
        ]
        if adapter is not None:
            creds = form.credential_rows()
            sets = [SETTING_PREFIX + f.name for f in adapter.settings_fields]
            if creds:
                fieldsets.append(
                    (
                        f"{adapter.display_name} credentials",
                        {
                            "fields": creds,
                            "description": "Write-only: stored values are never shown.",
                        },
                    )
                )
            if sets:
                fieldsets.append((f"{adapter.display_name} settings", {"fields": sets}))
        else:
            fieldsets[0][1]["description"] = (
                "Choose the kind and provider and save: the provider's credential "
                "fields then appear. Providers: "
                + "; ".join(
                    f"{k}: {', '.join(registry.provider_codes(k))}"
                    for k in registry.kinds()
                )
            )
        breaker = ["breaker_mode"]
        if obj is not None:
            breaker += ["breaker_state", "breaker_last_transition"]
        for group, names in limit_fields(adapter):
            if group == BREAKER:
                breaker += names
            else:
                fieldsets.append((group, {"fields": names, "description": LIMITS_NOTE}))
        fieldsets.append(("Circuit breaker", {"fields": breaker}))
        return fieldsets

    def _get_form_for_fieldsets(
        self, request: HttpRequest, obj: ProviderAccount | None
    ) -> ProviderAccountForm | None:
        # Build the form as the view will, so the fieldsets list its dynamic fields.
        data = request.POST if request.method == "POST" else None
        initial = {
            k: request.GET.get(k) for k in ("kind", "provider") if k in request.GET
        }
        return ProviderAccountForm(data=data, instance=obj, initial=initial)

    def _editable(self, request: HttpRequest, obj: ProviderAccount | None) -> bool:
        return obj is None or self.has_change_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Fields are declared by the adapter at form construction; skip the
        # fieldset-driven field list that modelform_factory would enforce.
        # A read-only page (internal account, no change permission) lists
        # model fields only, which Django then excludes from the form.
        if self._editable(request, obj):
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)
