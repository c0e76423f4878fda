from django.contrib import admin
from django.http import HttpRequest

from integrations import registry
from integrations.forms import CRED_PREFIX, SETTING_PREFIX, ProviderAccountForm
from integrations.models import ProviderAccount


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    form = ProviderAccountForm
    list_display = [
        "display_name",
        "kind",
        "provider",
        "slug",
        "priority",
        "enabled",
        "mode",
    ]
    list_display_links = ["display_name"]
    # Staff flip failover order right in the change list.
    list_editable = ["priority", "enabled"]
    list_filter = ["kind", "provider", "enabled", "mode"]
    search_fields = ["slug", "display_name", "provider"]
    prepopulated_fields = {"slug": ["display_name"]}
    ordering = ["kind", "priority", "slug"]

    def get_fieldsets(self, request: HttpRequest, obj: ProviderAccount | None = None):
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
            creds = [CRED_PREFIX + f.name for f in adapter.credential_fields]
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
        return fieldsets

    def _get_form_for_fieldsets(
        self, request: HttpRequest, obj: ProviderAccount | None
    ) -> ProviderAccountForm | None:
        # Build the form as the view will, so the fieldsets list its dynamic fields.
        data = request.POST if request.method == "POST" else None
        initial = {k: request.GET.get(k) for k in ("kind", "provider") if k in request.GET}
        return ProviderAccountForm(data=data, instance=obj, initial=initial)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Fields are declared by the adapter at form construction; skip the
        # fieldset-driven field list that modelform_factory would enforce.
        kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)
