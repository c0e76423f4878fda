"""Locations, stock levels and reservations.

``StockLevel.reserved`` is the sum of the lines of every ``active``
reservation on that row, kept by conditional updates under row locks
(inventory.services.reservations). A reservation past its ``expires_at``
stops counting at read time (selectors subtract it) before the schedule
marks it ``expired`` and takes its units off ``reserved`` for good.
"""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from integrations.clock import database_now
from integrations.models import ProviderAccount
from integrations.public_ids import PublicIdField


class Location(models.Model):
    """A warehouse; reservations allocate from lower ``priority`` first."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=128, blank=True, default="")
    priority = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    # When an ERP's figure named it before staff set it up: it was created
    # inactive (its stock not sellable) for staff to review and enable.
    discovered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return self.code


class StockState(models.TextChoices):
    IN_STOCK = "in_stock", "In stock"
    LOW = "low", "Low"
    OUT_OF_STOCK = "out_of_stock", "Out of stock"
    OVERSOLD = "oversold", "Oversold"


def default_low_threshold() -> int:
    return settings.INVENTORY_LOW_STOCK_THRESHOLD


class StockLevel(models.Model):
    sku = models.CharField(max_length=64)
    location = models.ForeignKey(Location, on_delete=models.PROTECT)
    # The ERP's figure less the confirmed units it does not show yet.
    on_hand = models.IntegerField(default=0)
    # Units held by active reservations (expired ones included until released).
    reserved = models.IntegerField(default=0)
    # Availability at or below this is "low".
    low_threshold = models.PositiveIntegerField(default=default_low_threshold)
    # The state of its figures, as last announced by ``inventory.level_changed``
    # (at an inactive location: not announced; out of stock to the storefront).
    state = models.CharField(
        max_length=16, choices=StockState.choices, default=StockState.OUT_OF_STOCK
    )
    # Its location's ``active``, kept in step by ``location_active_set`` and
    # set by whatever creates a level: a reservation's conditional UPDATE
    # checks it on the very row it takes units from, so it locks no location.
    location_active = models.BooleanField(default=True, db_default=True)
    source = models.ForeignKey(
        ProviderAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    erp_modified_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Units confirmed here that the ERP's figure does not show yet, so an
    # ERP figure is applied as figure - sold_unsent - sold_unseen
    # (inventory.services.sold). Unsent: their confirm forward to the ERP
    # is not done. Unseen: no forward carries them (the ERP keeps no holds);
    # cleared by a figure the ERP changed after sold_unseen_at.
    sold_unsent = models.IntegerField(default=0, db_default=0)
    sold_unseen = models.IntegerField(default=0, db_default=0)
    sold_unseen_at = models.DateTimeField(null=True, blank=True)
    # When the ERP last acknowledged a confirm of this level: a figure
    # current as of earlier may not show it and is not applied.
    erp_acked_at = models.DateTimeField(null=True, blank=True)
    # The ERP's own time of that acknowledgement (its clock, as its confirm
    # answer gave it; None when it gave none): an event's level modified
    # earlier by that clock may not show it.
    erp_acked_modified_at = models.DateTimeField(null=True, blank=True)
    # Confirms of this level sent to the ERP and not yet answered, and when
    # the first of them was sent: the ERP may have taken their units off
    # already, so a figure current from then on is not applied.
    confirms_awaited = models.IntegerField(default=0, db_default=0)
    erp_confirm_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sku", "location_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sku", "location"], name="stocklevel_unique_sku_location"
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="stocklevel_reserved_nonnegative"
            ),
        ]
        indexes = [models.Index(fields=["state"], name="stocklevel_state_idx")]

    def __str__(self) -> str:
        return f"{self.sku}@{self.location_id}"

    @property
    def oversold_by(self) -> int:
        # A negative ERP figure is its backlog: only our holds are short.
        return max(0, self.reserved - max(self.on_hand, 0))


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CONFIRMED = "confirmed", "Confirmed"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Reservation(models.Model):
    public_id = PublicIdField(prefix="res_")
    order_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(
        max_length=16,
        choices=ReservationStatus.choices,
        default=ReservationStatus.ACTIVE,
    )
    expires_at = models.DateTimeField()
    # The services stamp it with the database's time; so does the column.
    created_at = models.DateTimeField(db_default=Now())
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="reservation_active_expiry_idx",
            )
        ]

    def __str__(self) -> str:
        return self.public_id

    def is_expired(self, now: datetime | None = None) -> bool:
        """Past its time while still active: it no longer holds stock. By
        the database's clock (expires_at's) unless the caller read it."""
        now = now or database_now()
        return self.status == ReservationStatus.ACTIVE and self.expires_at <= now


class ReservationLine(models.Model):
    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="lines"
    )
    stock_level = models.ForeignKey(
        StockLevel, on_delete=models.PROTECT, related_name="reservation_lines"
    )
    sku = models.CharField(max_length=64)
    location = models.ForeignKey(Location, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="reservationline_quantity_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


__all__ = [
    "Location",
    "Reservation",
    "ReservationLine",
    "ReservationStatus",
    "StockLevel",
    "StockState",
]
