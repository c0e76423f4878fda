"""Fraud screening's data: blocklists and per-currency amount thresholds
that staff edit in the admin (``payments.fraud`` reads them), and the review
queue (a proxy of Payment)."""

import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from integrations.money import MoneyError, validate_currency
from payments.models.payments import Payment, ReviewState


class BlocklistKind(models.TextChoices):
    EMAIL = "email", "Email address or @domain"
    IP = "ip", "IP address or CIDR range"
    CARD = "card", "Card fingerprint"


def blocklist_normalise(kind: str, value: str) -> str:
    """The stored (and compared) form of a blocklist value.

    Emails are lower-cased (``@example.com`` blocks a whole domain); IPs and
    ranges become their canonical text (``10.0.0.0/8``, a single address without
    a prefix); card fingerprints are stripped. Raises ``ValueError`` when the
    value is not of its kind.
    """
    value = value.strip()
    if not value:
        raise ValueError("A value is required.")
    if kind == BlocklistKind.EMAIL:
        value = value.lower()
        local, at, domain = value.rpartition("@")
        if not at or not domain or "." not in domain or " " in value:
            raise ValueError("Enter an email address or @domain.")
        return value if local else f"@{domain}"
    if kind == BlocklistKind.IP:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ValueError("Enter an IP address or a CIDR range.") from exc
        if network.num_addresses == 1:
            return str(network.network_address)
        return str(network)
    if kind == BlocklistKind.CARD:
        if " " in value:
            raise ValueError("A card fingerprint has no spaces.")
        return value
    raise ValueError(f"Unknown blocklist kind {kind!r}.")


class BlocklistEntry(models.Model):
    """One blocked email (or @domain), IP (or CIDR range) or card fingerprint.

    A payment matching an entry is screened ``high`` and blocked before any
    gateway is called.
    """

    kind = models.CharField(max_length=8, choices=BlocklistKind.choices)
    value = models.CharField(
        max_length=255,
        help_text="Stored normalised: emails lower-case, IP ranges canonical.",
    )
    reason = models.CharField(max_length=255, blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "value"]
        verbose_name_plural = "blocklist entries"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "value"], name="blocklistentry_unique_value"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"

    def clean(self) -> None:
        # The admin form validates through here, so what staff type is what
        # the screening compares against.
        try:
            self.value = blocklist_normalise(self.kind, self.value)
        except ValueError as exc:
            raise ValidationError({"value": str(exc)}) from exc


class AmountThreshold(models.Model):
    """Staff override of ``FRAUD_AMOUNT_THRESHOLDS`` for one currency."""

    currency = models.CharField(max_length=3, unique=True)
    amount = models.BigIntegerField(
        validators=[MinValueValidator(1)],
        help_text="In the currency's minor unit (cents; yen for JPY). A payment "
        "above it is scored amount_over_threshold.",
    )
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["currency"]

    def __str__(self) -> str:
        return f"{self.currency} > {self.amount}"

    def clean(self) -> None:
        try:
            self.currency = validate_currency(self.currency)
        except MoneyError as exc:
            raise ValidationError(
                {"currency": "Enter an ISO 4217 code, e.g. EUR."}
            ) from exc


class ReviewQueueManager(models.Manager["PaymentReview"]):
    def get_queryset(self) -> models.QuerySet["PaymentReview"]:
        return super().get_queryset().filter(review_state=ReviewState.PENDING)


class PaymentReview(Payment):
    """The review queue: medium-risk payments, authorized only, waiting for
    staff to approve (capture) or reject (void) them; and payments the gateway
    corrected or that cannot settle automatically (``review_reason``), for
    staff to check and acknowledge."""

    objects = ReviewQueueManager()

    class Meta:
        proxy = True
        ordering = ["created_at", "pk"]  # oldest first: it has waited longest
        verbose_name = "payment review"
        verbose_name_plural = "fraud review queue"
