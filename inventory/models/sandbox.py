"""What the sandbox ERP remembers, as a real ERP would on its side: rows in
the database, shared by every process, so paging, purchase-order look-ups and
holds behave the same from any worker."""

from django.db import models
from django.utils import timezone

from integrations.models import ProviderAccount


class SandboxErpLevel(models.Model):
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="+"
    )
    sku = models.CharField(max_length=64)
    location_code = models.CharField(max_length=32)
    on_hand = models.IntegerField(default=0)
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "sku", "location_code"],
                name="sandboxerplevel_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku}@{self.location_code}"


class SandboxErpPurchaseOrder(models.Model):
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="+"
    )
    external_id = models.CharField(max_length=64)
    reference = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    supplier_code = models.CharField(max_length=64)
    location_code = models.CharField(max_length=32)
    currency = models.CharField(max_length=3)
    lines = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "external_id"], name="sandboxerppo_unique_eid"
            ),
            models.UniqueConstraint(
                fields=["account", "reference"], name="sandboxerppo_unique_ref"
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class SandboxErpHold(models.Model):
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="+"
    )
    reference = models.CharField(max_length=64)
    external_reference = models.CharField(max_length=64)
    lines = models.JSONField(default=list)
    released = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "reference"], name="sandboxerphold_unique_ref"
            ),
        ]

    def __str__(self) -> str:
        return self.reference
