"""Holds forwarded to the ERP: one row per (reservation, ERP account,
operation), worked by a task enqueued on commit, retried with backoff
(``integrations.leases``), each provider call recorded as an attempt.

The local ledger (``StockLevel.reserved``) stays the authority against
overselling; these rows only tell an ERP that keeps holds of its own
(``InventoryAdapter.supports_reservations``) what the shop already decided.
"""

from django.db import models
from django.db.models.functions import Now

from integrations.models import ProviderAccount
from integrations.models.attempts import KeyedAttempt
from inventory.models.stock import Reservation


class ForwardOperation(models.TextChoices):
    RESERVE = "reserve", "Reserve"
    RELEASE = "release", "Release"  # released or expired here
    CONFIRM = "confirm", "Confirm"


class ForwardStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (retrying)"
    DEAD = "dead", "Gave up"
    # Not needed any more (a hold released before it reached the ERP).
    SKIPPED = "skipped", "Skipped"


class ReservationForward(models.Model):
    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="forwards"
    )
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="+"
    )
    operation = models.CharField(max_length=16, choices=ForwardOperation.choices)
    status = models.CharField(
        max_length=16, choices=ForwardStatus.choices, default=ForwardStatus.PENDING
    )
    # Claims by a worker (``integrations.leases``), not provider calls: those
    # are the ``attempts`` rows.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The ERP's id of the hold (reserve only).
    external_reference = models.CharField(max_length=255, blank=True, default="")
    # Confirm only: the units it carries off each level's figure
    # ({level id: units}, fixed when confirmed: the level's source may change
    # before the ERP answers); null on rows written before this was kept.
    sold_units = models.JSONField(null=True, blank=True)
    # Confirm only: when it was first sent, while its answer is awaited (its
    # levels count it in confirms_awaited); cleared when it ends.
    awaiting_since = models.DateTimeField(null=True, blank=True)
    # The database's clock, the one the sweep measures "lost" by
    # (integrations.clock), whatever the reserving web process's clock says.
    created_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "account", "operation"],
                name="reservationforward_unique_op",
            )
        ]
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                name="reservationforward_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.operation} of {self.reservation_id} at {self.account_id}"


class ReservationForwardAttempt(KeyedAttempt):
    """One call to the ERP for a forward (the keyed-attempt recorder's row)."""

    forward = models.ForeignKey(
        ReservationForward, on_delete=models.CASCADE, related_name="calls"
    )
    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="erp_attempts"
    )
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="+"
    )

    class Meta(KeyedAttempt.Meta):
        pass


__all__ = [
    "ForwardOperation",
    "ForwardStatus",
    "ReservationForward",
    "ReservationForwardAttempt",
]
