"""API keys in the back office: the full key is shown once, after adding;
the hash is never shown. Keys are revoked, not deleted, so old log lines and
idempotency records still name a key that exists."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from integrations.api.scopes import SCOPES
from integrations.api.services import api_key_create, api_key_revoke
from integrations.models import ApiKey


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(name, f"{name} — {text}") for name, text in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        help_text="What the key may do; each endpoint names the scopes it needs.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes"]


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = [
        "name",
        "prefix",
        "scope_list",
        "created_at",
        "last_used_at",
        "active",
        "revoked_at",
    ]
    list_filter = [StatusFilter]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "scopes"]
        return ["name", "scopes", *self.readonly_fields]

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.display(boolean=True)
    def active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def has_delete_permission(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: ApiKeyForm, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created, full_key = api_key_create(
            name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"]
        )
        # The admin goes on with `obj` (log entry, redirect): make it the row
        # the service created.
        obj.pk = created.pk
        obj.refresh_from_db()
        # The one time the key exists outside the client: it is in no row, and
        # the message is consumed by the next page.
        messages.warning(
            request,
            format_html(
                "New API key for “{}”: <code>{}</code> — copy it now, it will "
                "not be shown again.",
                created.name,
                full_key,
            ),
        )

    # Revoking stops a storefront: a change, not something a viewer may do.
    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(api_key_revoke(api_key=key) for key in queryset)
        self.message_user(
            request, f"Revoked {revoked} API key(s).", level=messages.SUCCESS
        )
