"""Durable batch work: a job and the rows it is made of (integrations.batch)."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Now


class BatchJobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class BatchJob(models.Model):
    """One job made of many rows (an email campaign's recipients, an ERP
    sync's items). Its counts are progress for staff; the rows are the truth."""

    kind = models.CharField(max_length=64, help_text="e.g. email.campaign")
    name = models.CharField(max_length=255, blank=True, default="")
    # Which rows make the job and what works each one; set in code, never
    # from a form, because the handler path is imported.
    row_model = models.CharField(max_length=128, help_text="app_label.ModelName")
    handler = models.CharField(max_length=255, help_text="Dotted path.")
    status = models.CharField(
        max_length=16, choices=BatchJobStatus.choices, default=BatchJobStatus.PENDING
    )
    chunk_size = models.PositiveIntegerField()
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    # A rate-limited job claims nothing before this.
    paced_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # The database's clock, the one started_at and the rows' stamps use
    # (integrations.clock): the listing's order and "created before started".
    created_at = models.DateTimeField(db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)
    # Last time a worker finished a chunk; the sweeper restarts a job left
    # alone longer than BATCH_SWEEP_AFTER_MINUTES.
    worked_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "worked_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.name}".strip()


class BatchRowStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running (leased)"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (gave up)"


class BatchRow(models.Model):
    """What every row of a batch job carries; a domain's row model inherits
    it (``class Meta(BatchRow.Meta)`` keeps the claim index).

    A row waiting for a retry is ``pending`` with ``next_attempt_at`` in the
    future and the error it failed with in ``last_error``.
    """

    # No index of its own: the claim index below starts with the job.
    job = models.ForeignKey(
        BatchJob, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    status = models.CharField(
        max_length=16, choices=BatchRowStatus.choices, default=BatchRowStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Times the row was handed back to wait on its own (``Defer``): each wait
    # doubles, so rows waiting out a long pause leave the workers at rest.
    # A database default too: rows inserted by a release without the column.
    defers = models.PositiveIntegerField(default=0, db_default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        # Claims read a job's pending rows in id order; the sweep asks of
        # each resting job whether a row is due (``rows.due_rows``) without
        # reading its waiting rows (100k: 24 ms -> 0.03 ms a job).
        indexes = [
            models.Index(fields=["job", "status", "id"], name="%(class)s_batch_claim"),
            models.Index(
                fields=["job", "status", "next_attempt_at"], name="%(class)s_batch_due"
            ),
        ]


class BatchItem(BatchRow):
    """A row for jobs that need no model of their own: a key and a payload."""

    key = models.CharField(max_length=255)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    class Meta(BatchRow.Meta):
        ordering = ["job_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "key"], name="batchitem_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.key}"
