"""One ERP sync and what it did."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from integrations.models import ProviderAccount


class SyncStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial (some pages failed)"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):
    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE)
    status = models.CharField(
        max_length=16, choices=SyncStatus.choices, default=SyncStatus.QUEUED
    )
    full = models.BooleanField(default=False)
    # Levels changed at or after this were asked for (None: everything).
    since = models.DateTimeField(null=True, blank=True)
    # The newest ERP modification time seen (for staff: the next run's
    # ``since`` comes from when this one started, services.sync.next_since).
    high_water = models.DateTimeField(null=True, blank=True)
    # The database's clock, which leases and stale runs are measured by.
    started_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    items_seen = models.PositiveIntegerField(default=0)
    items_changed = models.PositiveIntegerField(default=0)
    items_failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    # Pages a run of an older version owed, carried until a run reads their
    # window whole (services.sync_owed); no run owes pages any more.
    owed = models.JSONField(default=list, blank=True)
    # Every page of its listing was read: moves the next "since"
    # like a run that succeeded.
    covered = models.BooleanField(default=False)
    # Where the next page starts (services.sync.SyncPosition: the ERP's
    # cursor, or the SKUs done), saved with each page so a later task
    # resumes there. None: from the beginning.
    position = models.JSONField(null=True, blank=True)
    # When the last page was applied: a run no worker has moved for
    # STALE_AFTER is ended failed (not counted from ``started_at``).
    progress_at = models.DateTimeField(null=True, blank=True)
    # The worker's lease, renewed with every page; None between tasks. A
    # run left unclaimed or held past INVENTORY_SYNC_LEASE_SECONDS is
    # resumed by the schedule.
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            # One sync of an account at a time, however many start at once.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status__in=["queued", "running"]),
                name="syncrun_one_open_per_account",
            )
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} of {self.account_id}"


class SyncListedLevel(models.Model):
    """A (SKU, location) that a full run of a ``lists_every_item`` ERP read:
    rows, not a list in the run's position, so the check of what is gone
    (services.sync_gone) has no size cap and no page saves a growing list."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+")
    sku = models.CharField(max_length=64)
    location_code = models.CharField(max_length=32)

    class Meta:
        constraints = [
            # Also the index the end-of-run anti-join looks pairs up by.
            models.UniqueConstraint(
                fields=["run", "sku", "location_code"],
                name="synclistedlevel_once_per_run",
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku} at {self.location_code} in sync {self.run_id}"
