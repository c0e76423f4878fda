"""Bulk sends: one template to many recipients, worked as an
``integrations.batch`` job with one row per recipient."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from integrations.models import BatchJob, BatchRow
from integrations.public_ids import PublicIdField
from notifications.models.messages import CATEGORY_CHOICES, EmailMessage
from notifications.providers.base import EmailCategory


class BulkSendStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class BulkSend(models.Model):
    """A template sent to many recipients; progress and cancel live on its
    batch job (the rows are the truth)."""

    public_id = PublicIdField(prefix="bulk_")
    name = models.CharField(max_length=255, blank=True, default="")
    template = models.CharField(max_length=100)
    category = models.CharField(
        max_length=16, choices=CATEGORY_CHOICES, default=EmailCategory.MARKETING
    )
    from_email = models.EmailField(max_length=254, blank=True, default="")
    # Context shared by every recipient; each row adds its own.
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    job = models.OneToOneField(
        BatchJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.name or self.public_id


class BulkRecipient(BatchRow):
    """One recipient of a bulk send; moves to done exactly once."""

    bulk_send = models.ForeignKey(
        BulkSend, on_delete=models.CASCADE, related_name="recipients"
    )
    email = models.EmailField(max_length=254)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    message = models.ForeignKey(
        EmailMessage, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta(BatchRow.Meta):
        ordering = ["job_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bulk_send", "email"], name="bulkrecipient_unique_email"
            )
        ]

    def __str__(self) -> str:
        return self.email
