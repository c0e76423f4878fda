"""Fraud screening's data: blocklists and per-currency amount thresholds
that staff edit in the admin (``payments.fraud`` reads them), and the review
queue (a proxy of Payment)."""

import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from integrations.money import MoneyError, validate_currency
from notifications.providers.domains import domain_ascii, idn_address
from payments.models.payments import Payment, ReviewState


class BlocklistKind(models.TextChoices):
    EMAIL = "email", "Email address or @domain"
    IP = "ip", "IP address or CIDR range"
    CARD = "card", "Card fingerprint"


# The value column's bound.
BLOCKLIST_VALUE_MAX_LENGTH = 255


def email_canonical(value: str) -> str:
    """An e-mail (or ``@domain``) as the blocklist and the e-mail velocity
    rule compare it: trimmed, lower case, the domain in the ASCII form the
    notifications use (``domain_ascii``: UTS 46 mapping, which folds NFKC
    look-alikes such as full-width letters, then IDNA), so ``evil.test``
    typed full-width (U+FF45...) is ``evil.test`` and ``bücher.de`` is
    ``xn--bcher-kva.de``. A domain that
    is no domain name is kept as given (lower case)."""
    value = value.strip().lower()
    local, at, domain = value.rpartition("@")
    if not at:
        return value
    return f"{local}@{domain_ascii(domain) or domain}"


def email_stored(value: str) -> str:
    """The e-mail a payment keeps: as given, but an internationalised or
    full-width domain in its ASCII form (``idn_address``), so the velocity
    rule's case-blind count meets it under ``email_canonical``; as given
    when that form does not fit the column."""
    encoded = idn_address(value)
    limit = Payment._meta.get_field("customer_email").max_length
    return encoded if encoded and len(encoded) <= limit else value


def blocklist_normalise(kind: str, value: str) -> str:
    """The stored (and compared) form of a blocklist value.

    Emails are in ``email_canonical`` form (``@example.com`` blocks a whole
    domain, in any spelling); IPs and ranges become their canonical text
    (``10.0.0.0/8``, a single address without a prefix); card fingerprints
    are stripped. Raises ``ValueError`` when the value is not of its kind.
    """
    value = value.strip()
    if not value:
        raise ValueError("A value is required.")
    if kind == BlocklistKind.EMAIL:
        return _email_entry(value)
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


def _email_entry(value: str) -> str:
    local, at, domain = value.lower().rpartition("@")
    if not at or " " in local:
        raise ValueError("Enter an email address or @domain.")
    if not domain_ascii(domain):
        raise ValueError(
            "Enter an email address or @domain: its domain is no domain name."
        )
    entry = email_canonical(value)
    if len(entry) > BLOCKLIST_VALUE_MAX_LENGTH:
        raise ValueError("This address is too long once its domain is encoded.")
    return entry


class BlocklistEntry(models.Model):
    """One blocked email (or @domain), IP (or CIDR range) or card fingerprint.

    A payment matching an entry is screened ``high`` and blocked before any
    gateway is called.
    """

    kind = models.CharField(max_length=8, choices=BlocklistKind.choices)
    value = models.CharField(
        max_length=BLOCKLIST_VALUE_MAX_LENGTH,
        help_text="Stored normalised: emails lower-case with the domain in "
        "ASCII (bücher.de as xn--bcher-kva.de), IP ranges canonical.",
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
