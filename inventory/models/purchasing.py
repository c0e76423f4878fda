"""Suppliers, reorder points and purchase orders."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from integrations.models import ProviderAccount
from integrations.public_ids import PublicIdField
from inventory.models.stock import Location


class Supplier(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=128)
    currency = models.CharField(max_length=3, default="EUR")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ReorderPoint(models.Model):
    """Below ``reorder_level`` available units (active locations), a draft
    purchase order for ``reorder_quantity`` is made for ``supplier``."""

    sku = models.CharField(max_length=64, unique=True)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT)
    location = models.ForeignKey(Location, on_delete=models.PROTECT)
    reorder_level = models.PositiveIntegerField()
    reorder_quantity = models.PositiveIntegerField()
    unit_cost = models.BigIntegerField(default=0)  # minor units, supplier currency

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reorder_quantity__gt=0), name="reorder_quantity_positive"
            )
        ]

    def __str__(self) -> str:
        return self.sku


class PurchaseOrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    CONFIRMED = "confirmed", "Confirmed"
    RECEIVED = "received", "Received"
    CANCELLED = "cancelled", "Cancelled"
    # Its answer was lost and the ERP has forgotten the send's key: it may
    # hold the order or not. Staff check the ERP, then send it again.
    UNRESOLVED = "unresolved", "Unresolved (check the ERP)"


class PurchaseOrder(models.Model):
    public_id = PublicIdField(prefix="po_")
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT)
    location = models.ForeignKey(Location, on_delete=models.PROTECT)
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16,
        choices=PurchaseOrderStatus.choices,
        default=PurchaseOrderStatus.DRAFT,
    )
    account = models.ForeignKey(
        ProviderAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    external_reference = models.CharField(max_length=64, blank=True, default="")
    raw_status = models.CharField(max_length=64, blank=True, default="")
    last_error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    # By the database's clock, like send_tried_at (services stamp it Now()).
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the ERP was first asked to place it with no answer kept since
    # (the database's clock): its upsert key's life runs from then.
    send_tried_at = models.DateTimeField(null=True, blank=True)
    # The database's clock, by the column's default and every service's
    # update (Now()): writers on several machines never run it backwards.
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.public_id


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.CASCADE, related_name="lines"
    )
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_cost = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["purchase_order", "sku"], name="poline_unique_sku"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="poline_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"
