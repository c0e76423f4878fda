"""The fields every domain's attempt model shares (``PaymentAttempt``, later
a shipment's or a sync's): one row per operation at one account, written with
its idempotency key before the provider is called. ``integrations.attempts``
records them; the domain adds its owner and ``account`` foreign keys."""

from django.db import models
from django.utils import timezone


class AttemptOutcome(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    SUCCEEDED = "succeeded", "Succeeded"
    NOT_PROCESSED = "not_processed", "Not processed"
    UNKNOWN = "unknown", "Unknown"
    REJECTED = "rejected", "Rejected"


class KeyedAttempt(models.Model):
    """Abstract: the subclass declares ``account`` (a ForeignKey to
    ``ProviderAccount``) and the foreign key to what the attempt is for."""

    operation = models.CharField(max_length=32)
    outcome = models.CharField(
        max_length=16,
        choices=AttemptOutcome.choices,
        default=AttemptOutcome.IN_PROGRESS,
    )
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.CharField(max_length=255, blank=True, default="")
    idempotency_key = models.CharField(max_length=255)
    provider_reference = models.CharField(max_length=255, blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.operation} at {self.account_id}: {self.outcome}"  # type: ignore[attr-defined]
