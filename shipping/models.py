"""Shipments, the quotes they are bought from, their tracking events,
pickups, the attempts made at each carrier, and the sandbox carrier's memory.

Prices are integers in the currency's minor unit. Addresses, parcels and
customs are kept as the boundary dataclasses' JSON (``shipping.codec``).
"""

from django.db import models
from django.db.models.functions import Least, Now
from django.utils import timezone

from integrations.clock import database_now
from integrations.models import ProviderAccount
from integrations.models.attempts import KeyedAttempt
from integrations.public_ids import PublicIdField
from shipping.providers.tracking_types import TrackingStatus


class ShipmentStatus(models.TextChoices):
    PURCHASING = "purchasing", "Buying the label"
    PURCHASED = "purchased", "Label bought"
    # A label may exist at the carrier: reconciliation asks, never rebuys.
    UNKNOWN = "unknown", "Unknown (reconciling)"
    FAILED = "failed", "Failed"
    VOIDED = "voided", "Voided"


# A shipment in these holds its quote: a label bought, or one that may be.
LIVE_LABEL_STATUSES = (
    ShipmentStatus.PURCHASING,
    ShipmentStatus.UNKNOWN,
    ShipmentStatus.PURCHASED,
)


# A shipment in these has announced its label (``shipment.label_created``):
# only these show the storefront a tracking number, a label or scans.
LABEL_ANNOUNCED_STATUSES = (ShipmentStatus.PURCHASED, ShipmentStatus.VOIDED)


class LabelFormatChoice(models.TextChoices):
    PDF = "pdf", "PDF"
    ZPL = "zpl", "ZPL"
    PNG = "png", "PNG"


class TrackingStatusChoice(models.TextChoices):
    """``shipping.providers.tracking_types.TrackingStatus`` as database choices."""

    PRE_TRANSIT = TrackingStatus.PRE_TRANSIT.value, "Pre-transit"
    IN_TRANSIT = TrackingStatus.IN_TRANSIT.value, "In transit"
    OUT_FOR_DELIVERY = TrackingStatus.OUT_FOR_DELIVERY.value, "Out for delivery"
    DELIVERED = TrackingStatus.DELIVERED.value, "Delivered"
    EXCEPTION = TrackingStatus.EXCEPTION.value, "Exception"
    RETURNED = TrackingStatus.RETURNED.value, "Returned"
    UNKNOWN = TrackingStatus.UNKNOWN.value, "Unknown"


class RateQuote(models.Model):
    """One carrier service's price for one request; buyable by public id
    until it expires."""

    public_id = PublicIdField(prefix="rq_")
    fingerprint = models.CharField(max_length=64, db_index=True)
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="rate_quotes"
    )
    carrier = models.CharField(max_length=32)
    service_code = models.CharField(max_length=64)
    service_name = models.CharField(max_length=128)
    amount = models.BigIntegerField(help_text="In minor units.")
    currency = models.CharField(max_length=3)
    estimated_delivery = models.DateField(null=True, blank=True)
    transit_days = models.PositiveIntegerField(null=True, blank=True)
    carrier_rate_id = models.CharField(max_length=128, blank=True, default="")
    extra = models.JSONField(default=dict, blank=True)
    # The request it answers (shipping.codec), so buying needs only the id.
    request = models.JSONField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["amount", "estimated_delivery", "pk"]
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.carrier} {self.service_code} {self.amount} {self.currency}"

    def is_expired(self, now: object = None) -> bool:
        # expires_at is the database's time (rates._store_quotes).
        return self.expires_at <= (now or database_now())


class Shipment(models.Model):
    public_id = PublicIdField(prefix="shp_")
    order_id = models.CharField(max_length=128, blank=True, default="", db_index=True)
    from_address = models.JSONField()
    to_address = models.JSONField()
    parcels = models.JSONField()
    customs = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=16,
        choices=ShipmentStatus.choices,
        default=ShipmentStatus.PURCHASING,
    )
    tracking_status = models.CharField(
        max_length=20,
        choices=TrackingStatusChoice.choices,
        default=TrackingStatus.UNKNOWN.value,
    )
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.PROTECT, related_name="shipments"
    )
    carrier = models.CharField(max_length=32)
    service_code = models.CharField(max_length=64)
    service_name = models.CharField(max_length=128, blank=True, default="")
    amount = models.BigIntegerField(help_text="In minor units.")
    currency = models.CharField(max_length=3)
    quote = models.ForeignKey(
        RateQuote,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="shipments",
    )
    # Created once, before the carrier is called; every retry and the
    # reconciliation send the same one.
    idempotency_key = models.CharField(max_length=64, unique=True)
    tracking_number = models.CharField(
        max_length=64, blank=True, default="", db_index=True
    )
    carrier_shipment_id = models.CharField(max_length=128, blank=True, default="")
    # The account at the carrier the label was bought under (Shippo's, from
    # the quote), copied at purchase: a pickup names it after the quote is
    # let go (shipping.services.quote_hold). Empty where there is none.
    carrier_account = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )
    label_data = models.BinaryField(blank=True, default=b"", editable=False)
    label_format = models.CharField(
        max_length=4, choices=LabelFormatChoice.choices, default=LabelFormatChoice.PDF
    )
    estimated_delivery = models.DateField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=255, blank=True, default="")
    # Set while a void is at the carrier: a second void is refused meanwhile
    # (shipping.services.voids).
    void_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Time of the newest tracking event applied; an older one never moves
    # the status.
    tracking_event_at = models.DateTimeField(null=True, blank=True)
    last_tracked_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When the carrier was last asked about an unknown (or stuck) buy: the
    # sweep asks the least recently asked first, so no row starves the rest.
    reconciled_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When staff were alerted that this label stayed unknown past a day.
    overdue_reported_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When staff were alerted that the sweep cannot ask this label's carrier
    # (its account cannot be called): once, not every sweep.
    uncallable_reported_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The database's clock: the sweeps on other machines measure a buy's age.
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "tracking_status"])]
        constraints = [
            # One label per quote: a second buy while the first is bought or
            # in doubt could be a second billed label (shipping.services.labels).
            models.UniqueConstraint(
                fields=["quote"],
                condition=models.Q(status__in=LIVE_LABEL_STATUSES),
                name="shipping_shipment_one_live_label_per_quote",
            )
        ]
        permissions = [
            ("settle_shipment", "Can settle unknown shipments by hand"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_trackable(self) -> bool:
        return (
            self.status == ShipmentStatus.PURCHASED
            and bool(self.tracking_number)
            and not TrackingStatus(self.tracking_status).is_terminal
        )


class ShipmentParcel(models.Model):
    """One parcel of a multi-parcel shipment: its own tracking number and,
    where the carrier prints one label per parcel (FedEx, UPS), its label.
    The shipment's own label is the master's (sequence 1)."""

    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="parcel_labels"
    )
    sequence = models.PositiveSmallIntegerField()  # 1-based, the carrier's order
    tracking_number = models.CharField(max_length=64, blank=True, default="")
    label_data = models.BinaryField(blank=True, default=b"", editable=False)
    # Where the carrier voids each parcel's label on its own (Shippo: the
    # parcel's transaction id); empty otherwise.
    carrier_reference = models.CharField(
        max_length=64, blank=True, default="", db_default=""
    )
    # This parcel's own label was voided (refunded) while the shipment's was
    # not, or not yet: a multi-piece void the carrier refused part-way.
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "sequence"], name="shipping_parcel_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} #{self.sequence}"


class ShipmentAttempt(KeyedAttempt):
    """One carrier operation for a shipment (buy, void, reconcile), written
    with its idempotency key before the call."""

    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="attempts"
    )
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.PROTECT, related_name="shipment_attempts"
    )

    class Meta(KeyedAttempt.Meta):
        pass


class TrackingEvent(models.Model):
    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="tracking_events"
    )
    status = models.CharField(max_length=20, choices=TrackingStatusChoice.choices)
    carrier_status_code = models.CharField(max_length=64, blank=True, default="")
    description = models.CharField(max_length=255, blank=True, default="")
    location = models.CharField(max_length=255, blank=True, default="")
    occurred_at = models.DateTimeField()
    # Hash of the carrier's time, code and text (never our status, which a
    # later read may map otherwise): the same scan seen twice (a webhook and
    # a poll) is stored once.
    dedupe_key = models.CharField(max_length=64)
    # When we received it (one stamp per poll or webhook).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # As the status follows them: the carrier's time, never after we got
        # the scan (one dated ahead lists when received). Same second: a later
        # poll's last; in one poll the newest (by the carrier's order, stored
        # first: shipment_tracking_apply) is the one followed, so it lists last.
        ordering = [
            Least("occurred_at", "created_at"),
            "occurred_at",
            "created_at",
            "-pk",
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "dedupe_key"], name="shipping_event_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.status} at {self.occurred_at:%Y-%m-%d %H:%M}"


class PickupStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    SCHEDULED = "scheduled", "Scheduled"
    # Its day is gone, not cancelled: the driver came or not (no carrier
    # confirms which through the calls we make). Set by shipping.pickups_past.
    PAST = "past", "Day passed (done or missed)"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown"


class Pickup(models.Model):
    public_id = PublicIdField(prefix="pu_")
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.PROTECT, related_name="pickups"
    )
    pickup_date = models.DateField()
    ready_time = models.TimeField()
    close_time = models.TimeField()
    address = models.JSONField()
    parcel_count = models.PositiveIntegerField(default=1)
    total_weight = models.DecimalField(max_digits=10, decimal_places=3)
    weight_unit = models.CharField(max_length=2, default="kg")
    instructions = models.CharField(max_length=255, blank=True, default="")
    idempotency_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=16, choices=PickupStatus.choices, default=PickupStatus.REQUESTED
    )
    confirmation_number = models.CharField(max_length=64, blank=True, default="")
    location_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=255, blank=True, default="")
    # Set right before our cancel request itself goes out, cleared by a
    # definite answer to a first try: an earlier cancel of ours may have landed.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Set while a cancel is at the carrier: a second one meanwhile is refused
    # (shipping.services.pickups).
    cancel_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The past sweep's re-sends of a cancel in doubt (shipping.services.
    # pickup_cancel_retry.pickup_cancels_retry): how many, and when the next is due.
    cancel_retries = models.PositiveSmallIntegerField(default=0, editable=False)
    cancel_retry_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When staff last settled it (pickup_resolve): a cancel's late answer is
    # weighed against that, never against a claim or mark gone meanwhile.
    settled_at = models.DateTimeField(null=True, blank=True)
    shipments = models.ManyToManyField(Shipment, blank=True, related_name="pickups")
    # The database's clock: the stuck-booking sweep measures its age.
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-pickup_date", "-pk"]

    def __str__(self) -> str:
        return self.public_id


class SandboxLabel(models.Model):
    """What the sandbox carrier sold under each key: it answers a repeated
    key with the same label, and reconciliation's look-up finds it."""

    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE)
    idempotency_key = models.CharField(max_length=64)
    reference = models.CharField(max_length=64, blank=True, default="")
    tracking_number = models.CharField(max_length=32)
    service_code = models.CharField(max_length=32)
    label_format = models.CharField(max_length=4)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    voided = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Tracking scans already announced by webhook: each scan is posted once.
    announced_events = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"], name="shipping_sandbox_key_once"
            )
        ]

    def __str__(self) -> str:
        return self.tracking_number
