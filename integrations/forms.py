"""Admin form for ProviderAccount: the credential and setting fields come from
the chosen adapter's declarations, so each provider is validated on its own
terms. Secrets are write-only: never rendered back, blank keeps the stored one;
an optional one that is set can be cleared with its own checkbox."""

from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured

from integrations import registry
from integrations.crypto import CredentialsDecryptError
from integrations.limits import (
    LIMITS,
    SPECS,
    InvalidNumber,
    LimitSpec,
    default_value,
)
from integrations.models import ProviderAccount
from integrations.providers.base import BaseAdapter, ConfigField

CRED_PREFIX = "credential__"
CLEAR_PREFIX = "credential_clear__"
SETTING_PREFIX = "setting__"
LIMIT_PREFIX = "limit__"


class LimitField(forms.CharField):
    """One per-account limit: empty means the default (shown as the
    placeholder); anything else must pass ``integrations.limits``' rules."""

    def __init__(self, spec: LimitSpec, default: float | None) -> None:
        shown = "off" if default is None else f"{default:g}"
        super().__init__(
            label=spec.label,
            required=False,
            help_text=f"{spec.help_text} Empty: default ({shown}).",
            widget=forms.TextInput(attrs={"placeholder": shown, "size": 8}),
        )
        self.spec = spec

    def to_python(self, value: Any) -> float | None:
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return self.spec.parse(text)
        except InvalidNumber as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


def limit_fields(
    adapter: type[BaseAdapter] | None,
) -> list[tuple[str, list[str]]]:
    """(group, field names) of the limit fields, in display order; a key the
    adapter declares as one of its own settings stays the adapter's."""
    own = {f.name for f in adapter.settings_fields} if adapter else set()
    groups: dict[str, list[str]] = {}
    for spec in SPECS:
        if spec.key not in own:
            groups.setdefault(spec.group, []).append(LIMIT_PREFIX + spec.key)
    return list(groups.items())


def _form_field(spec: ConfigField, *, secret: bool, required: bool) -> forms.Field:
    common: dict[str, Any] = {
        "label": spec.label,
        "required": required,
        "help_text": spec.help_text,
    }
    if secret:
        return forms.CharField(
            widget=forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "off"}
            ),
            strip=True,
            **common,
        )
    if spec.type == "bool":
        common["required"] = False
        return forms.BooleanField(**common)
    if spec.type == "int":
        return forms.IntegerField(
            min_value=spec.min_value, max_value=spec.max_value, **common
        )
    if spec.type == "float":
        return forms.FloatField(
            min_value=spec.min_value, max_value=spec.max_value, **common
        )
    if spec.type == "url":
        return forms.URLField(assume_scheme="https", **common)
    if spec.type == "choice":
        return forms.ChoiceField(choices=spec.choices, **common)
    if spec.type == "text":
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    return forms.CharField(**common)


class ProviderAccountForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=())

    class Meta:
        model = ProviderAccount
        fields = [
            "kind",
            "provider",
            "slug",
            "display_name",
            "priority",
            "enabled",
            "mode",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [
            ("", "---------"),
            *registry.provider_choices(),
        ]
        self.adapter_class = self._selected_adapter()
        # Stored secrets count only while the account stays on the same provider.
        same_provider = (
            self.instance.pk is not None
            and self.adapter_class is not None
            and self.adapter_class.kind == self.instance.kind
            and self.adapter_class.code == self.instance.provider
        )
        self.stored_credentials, self.credentials_unreadable = {}, False
        if same_provider:
            try:
                self.stored_credentials = self.instance.get_credentials()
            except CredentialsDecryptError:
                # The key was dropped before rotating, or a backup restored:
                # this page is where staff type them again.
                self.credentials_unreadable = True
        if self.adapter_class is not None:
            self._add_adapter_fields(self.adapter_class)
        self._add_limit_fields(self.adapter_class)

    def _selected_adapter(self) -> type[BaseAdapter] | None:
        kind = self.data.get("kind") if self.is_bound else None
        provider = self.data.get("provider") if self.is_bound else None
        kind = kind or self.instance.kind or self.initial.get("kind")
        provider = provider or self.instance.provider or self.initial.get("provider")
        if not (kind and provider):
            return None
        try:
            return registry.get_adapter_class(kind, provider)
        except (registry.UnknownProvider, ImproperlyConfigured):
            return None

    def _add_adapter_fields(self, adapter: type[BaseAdapter]) -> None:
        for spec in adapter.credential_fields:
            is_set = bool(self.stored_credentials.get(spec.name))
            field = _form_field(
                spec, secret=True, required=spec.required and not is_set
            )
            state = "set — leave blank to keep it" if is_set else "not set"
            if self.credentials_unreadable:
                state = "unreadable: no configured key decrypts it; enter it again"
            field.help_text = f"Currently {state}. {spec.help_text}".strip()
            self.fields[CRED_PREFIX + spec.name] = field
            if is_set and not spec.required:
                # Blank keeps a secret, so removing one needs its own control.
                self.fields[CLEAR_PREFIX + spec.name] = forms.BooleanField(
                    label=f"Clear {spec.label.lower()}",
                    required=False,
                    help_text="Remove the stored value when saving.",
                )
        for spec in adapter.settings_fields:
            field = _form_field(spec, secret=False, required=spec.required)
            field.initial = self.instance.settings.get(spec.name, spec.default)
            self.fields[SETTING_PREFIX + spec.name] = field

    def _add_limit_fields(self, adapter: type[BaseAdapter] | None) -> None:
        stored = self.instance.settings or {}
        for _group, names in limit_fields(adapter):
            for name in names:
                spec = LIMITS[name.removeprefix(LIMIT_PREFIX)]
                field = LimitField(spec, default_value(spec, adapter))
                field.initial = stored.get(spec.key)
                self.fields[name] = field

    def _save_limits(self, settings: dict[str, Any]) -> None:
        for name, field in self.fields.items():
            # A form posted without the field (a script) keeps the stored value.
            posted = self.add_prefix(name) in self.data
            if not isinstance(field, LimitField) or not posted:
                continue
            value = self.cleaned_data.get(name)
            if value is None:
                settings.pop(field.spec.key, None)
            else:
                settings[field.spec.key] = value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, provider = cleaned.get("kind"), cleaned.get("provider")
        if not (kind and provider):
            return cleaned
        try:
            registry.get_adapter_class(kind, provider)
        except registry.UnknownProvider:
            self.add_error(
                "provider", f"There is no {kind} provider called {provider!r}."
            )
            return cleaned
        except ImproperlyConfigured as exc:
            self.add_error("provider", str(exc))
            return cleaned
        self._check_credential_set()
        self._clean_settings()
        return cleaned

    def _clean_settings(self) -> None:
        """The adapter's word on each setting, and the form it is stored in."""
        adapter = self.adapter_class
        for spec in adapter.settings_fields if adapter is not None else ():
            name = SETTING_PREFIX + spec.name
            if name not in self.cleaned_data:
                continue
            try:
                self.cleaned_data[name] = adapter.clean_setting(
                    spec.name, self.cleaned_data[name]
                )
            except ValueError as exc:
                self.add_error(name, str(exc))

    def credential_rows(self) -> list[str | tuple[str, str]]:
        """The credential fields for the admin's fieldset, each with its
        clear checkbox beside it where there is one."""
        rows: list[str | tuple[str, str]] = []
        for spec in self.adapter_class.credential_fields if self.adapter_class else ():
            name, clear = CRED_PREFIX + spec.name, CLEAR_PREFIX + spec.name
            rows.append((name, clear) if clear in self.fields else name)
        return rows

    def _credentials_as_saved(self) -> dict[str, Any]:
        """The stored credentials with the new values and the clearings."""
        credentials = dict(self.stored_credentials)
        for spec in self.adapter_class.credential_fields if self.adapter_class else ():
            value = self.cleaned_data.get(CRED_PREFIX + spec.name)
            if value:
                credentials[spec.name] = value
            elif self.cleaned_data.get(CLEAR_PREFIX + spec.name):
                credentials.pop(spec.name, None)
        return credentials

    def _check_credential_set(self) -> None:
        """The adapter's word on the credentials as they would be saved."""
        adapter = self.adapter_class
        if adapter is None:
            return
        for spec in adapter.credential_fields:
            both = self.cleaned_data.get(CLEAR_PREFIX + spec.name) and (
                self.cleaned_data.get(CRED_PREFIX + spec.name)
            )
            if both:
                self.add_error(
                    CLEAR_PREFIX + spec.name, "Give a new value or clear it, not both."
                )
        credentials = self._credentials_as_saved()
        for name, message in adapter.credential_errors(credentials).items():
            self.add_error(CRED_PREFIX + name, message)

    def save(self, commit: bool = True) -> ProviderAccount:
        account = super().save(commit=False)
        adapter = self.adapter_class
        if adapter is not None:
            account.set_credentials(self._credentials_as_saved())
        settings = dict(account.settings or {})
        for spec in adapter.settings_fields if adapter is not None else ():
            settings[spec.name] = self.cleaned_data.get(SETTING_PREFIX + spec.name)
        self._save_limits(settings)
        account.settings = settings
        if commit:
            account.save()
        return account
