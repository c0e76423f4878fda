"""The provider-call log: one row per operation against a provider account.

Rows hold metadata only (never request/response bodies, headers or
credentials) so the log can be shown to staff and kept for weeks. They are
pruned after ``PROVIDER_CALL_RETENTION_DAYS`` by
``integrations.tasks_calls.prune_provider_calls``.
"""

from django.db import models

from integrations.models.accounts import ProviderAccount


class CallOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    NOT_PROCESSED = "not_processed", "Not processed"
    UNKNOWN = "unknown", "Unknown"
    REJECTED = "rejected", "Rejected"
    # Written before the first attempt so the idempotency key is on record even
    # if the process dies mid-call; reconciliation looks for these.
    IN_PROGRESS = "in_progress", "In progress"


class ProviderCall(models.Model):
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="calls"
    )
    operation = models.CharField(max_length=64)
    outcome = models.CharField(
        max_length=16, choices=CallOutcome.choices, default=CallOutcome.IN_PROGRESS
    )
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # The dashboard reads "this account, last hour".
            models.Index(fields=["account", "started_at"]),
            models.Index(fields=["correlation_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.operation} on {self.account_id}: {self.outcome}"
