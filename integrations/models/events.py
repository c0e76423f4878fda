from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Now


class Event(models.Model):
    """A domain event (outbox row), written in the transaction that caused it."""

    name = models.CharField(max_length=128)
    subject = models.CharField(
        max_length=255, blank=True, default="", help_text="e.g. payment:42"
    )
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    correlation_id = models.CharField(max_length=128, blank=True, default="")
    # The database's time (STATEMENT_TIMESTAMP()), as its deliveries'.
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["name", "created_at"]),
            models.Index(fields=["created_at"]),
            # An object's events on its admin page (integrations.timeline).
            models.Index(
                fields=["subject", "created_at"], name="event_subject_created"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.subject}".strip()


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead (gave up)"


class EventDelivery(models.Model):
    """One event to one subscriber; its status makes delivery idempotent."""

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries"
    )
    subscriber = models.CharField(max_length=255, help_text="Dotted path.")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The database's time, the clock the sweep measures "waiting too long"
    # by (integrations.clock): a web host's clock minutes off would have a
    # fresh delivery swept as lost, or hide a lost one.
    created_at = models.DateTimeField(db_default=Now())
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event_id", "subscriber"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subscriber"], name="eventdelivery_unique_subscriber"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.subscriber}"
