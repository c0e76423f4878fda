"""The latest health probe of each provider account.

One row per account, overwritten by every probe: the history of calls lives in
``ProviderCall``; this row answers "is the account working right now, and what
went wrong last time". Texts are produced by ``integrations.health`` and never
hold credentials.
"""

from django.db import models

from integrations.models.accounts import ProviderAccount


class HealthStatus(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    UNHEALTHY = "unhealthy", "Unhealthy"


class HealthCheckResult(models.Model):
    account = models.OneToOneField(
        ProviderAccount, on_delete=models.CASCADE, related_name="health"
    )
    status = models.CharField(max_length=16, choices=HealthStatus.choices)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # What the latest probe said, healthy or not.
    detail = models.CharField(max_length=500, blank=True, default="")
    # The latest failure, kept after the account recovers so staff can see
    # what went wrong an hour ago.
    error_class = models.CharField(max_length=128, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    last_error = models.CharField(max_length=500, blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "health check result"
        ordering = ["account__kind", "account__priority", "account__slug"]

    def __str__(self) -> str:
        return f"{self.account.slug}: {self.status}"

    @property
    def healthy(self) -> bool:
        return self.status == HealthStatus.HEALTHY
