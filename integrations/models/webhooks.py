from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from integrations.models.accounts import ProviderAccount


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead (gave up)"


class WebhookEvent(models.Model):
    """One verified webhook, stored before it is processed so none is lost.

    Never holds secrets: headers are filtered before they get here.
    """

    # No index of its own: the unique (account, dedupe_key) index serves
    # lookups by account, and one index less is one less write per webhook.
    account = models.ForeignKey(
        ProviderAccount,
        on_delete=models.PROTECT,
        related_name="webhook_events",
        db_index=False,
    )
    event_type = models.CharField(max_length=128)
    # The provider's id for the event; a second delivery of it is a duplicate.
    dedupe_key = models.CharField(max_length=255)
    raw_body = models.BinaryField()
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    headers = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider says it happened."
    )
    correlation_id = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    note = models.CharField(max_length=255, blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The database's clock, the one the sweep measures "lost" by
    # (integrations.clock), whatever the receiving web process's clock says.
    received_at = models.DateTimeField(db_default=Now())
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Our object the handler applied it to (a payment's or a shipment's
    # public id), set when processed: that object's admin timeline finds it
    # by this index instead of searching payloads.
    # db_default: a web process still on the release before this column
    # inserts without it while the migration has already run.
    subject = models.CharField(max_length=255, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "dedupe_key"], name="webhookevent_unique_dedupe"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["received_at"]),
            models.Index(fields=["event_type"]),
            # Partial: the intake's INSERT (no subject yet) never writes it.
            models.Index(
                fields=["subject", "received_at"],
                name="webhook_subject_received",
                condition=~Q(subject=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.dedupe_key}"

    def __repr__(self) -> str:
        return f"<WebhookEvent {self.pk} {self.event_type} {self.status}>"
