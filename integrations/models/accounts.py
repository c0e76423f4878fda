from contextvars import ContextVar
from typing import Any

from django.conf import settings as django_settings
from django.core.validators import MinValueValidator
from django.db import models

from integrations import crypto


class Kind(models.TextChoices):
    PAYMENTS = "payments", "Payments"
    SHIPPING = "shipping", "Shipping"
    INVENTORY = "inventory", "Inventory"
    EMAIL = "email", "Email"


class Mode(models.TextChoices):
    TEST = "test", "Test"
    LIVE = "live", "Live"


class BreakerMode(models.TextChoices):
    AUTO = "auto", "Automatic"
    FORCED_OPEN = "forced_open", "Forced open (send nothing)"
    FORCED_CLOSED = "forced_closed", "Forced closed (always send)"


def internal_kinds() -> dict[str, str]:
    """Kinds of accounts another app makes and owns for its own calls through
    the shared client (``SWITCHYARD_INTERNAL_ACCOUNT_KINDS``: {kind: owner})."""
    return getattr(django_settings, "SWITCHYARD_INTERNAL_ACCOUNT_KINDS", {})


# Set while bulk_update runs: it told the registry the rows it writes, so
# the queryset update it makes (CASE expressions) need not read them back.
_rows_told: ContextVar[bool] = ContextVar("secret_rows_told", default=False)


class SecretRowsQuerySet(models.QuerySet):
    """For a model whose rows hold secrets to mask: a queryset update,
    ``bulk_update`` or ``bulk_create`` sends no post_save, yet a secret it
    stores must be masked at once, here and in every other process."""

    def update(self, **kwargs: Any) -> int:
        updated = super().update(**kwargs)
        if updated and not _rows_told.get():
            from integrations import secrets_registry

            secrets_registry.rows_updated(
                self.model, kwargs, using=self.db, values=kwargs
            )
        return updated

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        objs = list(objs)
        token = _rows_told.set(True)
        try:
            updated = super().bulk_update(objs, fields, *args, **kwargs)
        finally:
            _rows_told.reset(token)
        if updated:
            self._rows_written(objs, fields)
        return updated

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        created = super().bulk_create(objs, *args, **kwargs)
        if created:
            self._rows_written(
                created, [f.name for f in self.model._meta.concrete_fields]
            )
        return created

    def _rows_written(self, rows: list[Any], fields: Any) -> None:
        from integrations import secrets_registry

        stored = dict(secrets_registry.secret_columns()).get(
            self.model._meta.concrete_model, ()
        )
        if not set(stored).isdisjoint(fields):
            secrets_registry.rows_written(rows, using=self.db)


class ProviderAccountQuerySet(SecretRowsQuerySet):
    def providers(self) -> "ProviderAccountQuerySet":
        """The accounts staff configure: without the internal ones."""
        return self.exclude(kind__in=list(internal_kinds()))


class ProviderAccount(models.Model):
    """One configured account at one provider. The admin is the source of truth."""

    kind = models.CharField(max_length=16, choices=Kind.choices)
    provider = models.CharField(
        max_length=32, help_text="Provider code, e.g. stripe, sandbox."
    )
    slug = models.SlugField(
        max_length=64,
        unique=True,
        help_text="Used in the webhook URL: /webhooks/<slug>/.",
    )
    display_name = models.CharField(max_length=128)
    priority = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(0)],
        help_text="Lower runs first when failing over between accounts of a kind.",
    )
    enabled = models.BooleanField(default=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.TEST)
    settings = models.JSONField(default=dict, blank=True)
    # Staff override of the circuit breaker (integrations/breaker.py).
    breaker_mode = models.CharField(
        max_length=16,
        choices=BreakerMode.choices,
        default=BreakerMode.AUTO,
        help_text="Automatic: the breaker opens and closes on its own. Forced "
        "open stops all calls to this account; forced closed never blocks them.",
    )
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProviderAccountQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "priority", "slug"]
        indexes = [models.Index(fields=["kind", "enabled", "priority"])]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.kind}/{self.provider})"

    def __repr__(self) -> str:
        # Never include credentials, even encrypted.
        return f"<ProviderAccount {self.slug} {self.kind}/{self.provider}>"

    @property
    def internal_owner(self) -> str:
        """What owns this account if it is internal (else empty)."""
        return internal_kinds().get(self.kind, "")

    def clean_fields(self, exclude: Any = None) -> None:
        # An internal kind is not one of the provider kinds staff choose from.
        if self.internal_owner:
            exclude = {*(exclude or ()), "kind"}
        super().clean_fields(exclude=exclude)

    def get_credentials(self) -> dict[str, Any]:
        return crypto.decrypt_json(self.credentials_encrypted)

    def set_credentials(self, values: dict[str, Any]) -> None:
        cleaned = {k: v for k, v in values.items() if v not in (None, "")}
        self.credentials_encrypted = crypto.encrypt_json(cleaned) if cleaned else ""

    def redaction_secrets(self) -> list[Any]:
        """What integrations.secrets_registry masks: every credential value."""
        return list(self.get_credentials().values())

    def credential_is_set(self, name: str) -> bool:
        return bool(self.get_credentials().get(name))
