"""Email messages, the delivery events applied to them, suppressed addresses
and the sandbox provider's mailbox."""

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Now
from django.utils import timezone

from integrations.models import ProviderAccount, WebhookEvent
from integrations.public_ids import PublicIdField
from notifications.providers.base import EmailCategory, idn_address

# The stored address columns' bound: RFC 5321's path limit, under Django's 320.
ADDRESS_MAX_LENGTH = 254


def ascii_address(address: str) -> str:
    """``address`` lower case, an internationalised domain in its ASCII
    form (``idn_address``: IDNA 2008 with UTS 46, else IDNA 2003), the one
    providers send to and name in their events; as given when neither
    encodes the domain. May be longer."""
    address = address.strip().lower()
    # Not an IDN by either standard: no provider was given another form.
    return idn_address(address) or address


def normalise_address(address: str) -> str:
    """The form an address is compared and suppressed in (``ascii_address``),
    so both spellings match; one too long for the columns once encoded (no
    send takes it: email_address_check) is kept as given."""
    encoded = ascii_address(address)
    if len(encoded) <= ADDRESS_MAX_LENGTH:
        return encoded
    return address.strip().lower()


class EmailStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DEFERRED = "deferred", "Deferred"
    DELIVERED = "delivered", "Delivered"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Complained"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed"
    UNKNOWN = "unknown", "Unknown (not resent)"


# Precedence of what provider events say: a message only moves up, so a
# late "deferred" never undoes "delivered", and a complaint outranks all.
STATUS_RANK: dict[str, int] = {
    EmailStatus.QUEUED: 0,
    EmailStatus.SENDING: 1,
    EmailStatus.UNKNOWN: 2,
    EmailStatus.SENT: 3,
    EmailStatus.DEFERRED: 4,
    EmailStatus.DELIVERED: 5,
    EmailStatus.FAILED: 6,
    EmailStatus.BOUNCED: 6,
    EmailStatus.COMPLAINED: 7,
    EmailStatus.SUPPRESSED: 8,
}

CATEGORY_CHOICES = [(c.value, c.value.title()) for c in EmailCategory]


class EmailMessage(models.Model):
    """One email to one recipient, stored before it is sent: the rendered
    content is kept, so a resend sends the same bytes."""

    public_id = PublicIdField(prefix="eml_")
    to_email = models.EmailField(max_length=254, db_index=True)
    from_email = models.EmailField(max_length=254)
    template = models.CharField(max_length=100)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    subject = models.CharField(max_length=998)
    text_body = models.TextField()
    html_body = models.TextField(blank=True, default="")
    headers = models.JSONField(default=dict, blank=True)
    category = models.CharField(
        max_length=16, choices=CATEGORY_CHOICES, default=EmailCategory.TRANSACTIONAL
    )
    status = models.CharField(
        max_length=16, choices=EmailStatus.choices, default=EmailStatus.QUEUED
    )
    account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.PROTECT
    )
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    # For staff: the provider's words about the send's failure, secrets
    # masked. The storefront reads our own sentence for ``error_code``.
    last_error = models.TextField(blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    # The caller's key ("order-confirmation:pay_..."): one message per key.
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    order_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    bulk_send = models.ForeignKey(
        "notifications.BulkSend",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When the current send began: the sweeper finds stuck ones by it.
    sending_at = models.DateTimeField(null=True, blank=True)
    # A queued message no account could take, whose providers all asked us to
    # wait (Retry-After): the sweeper leaves it alone until then.
    retry_at = models.DateTimeField(null=True, blank=True)
    # How often in a row it waited for a paused account (no provider that
    # could send it asked): each wait doubles; 0 again once really tried.
    defers = models.PositiveIntegerField(default=0, db_default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Time of the provider event that set the status (precedence ties).
    status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "sending_at"]),
            models.Index(fields=["provider_message_id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="emailmessage_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.public_id} to {self.to_email}"


class EmailEvent(models.Model):
    """A delivery event applied to a message (from a provider webhook, or
    our own: queued, sent, failed)."""

    message = models.ForeignKey(
        EmailMessage, on_delete=models.CASCADE, related_name="events"
    )
    type = models.CharField(max_length=32)
    bounce_type = models.CharField(max_length=8, blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    webhook = models.ForeignKey(
        WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "pk"]
        constraints = [
            # A webhook processed again adds nothing.
            models.UniqueConstraint(
                fields=["message", "webhook", "type"],
                condition=Q(webhook__isnull=False),
                name="emailevent_unique_per_webhook",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.occurred_at:%Y-%m-%d %H:%M}"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    COMPLAINT = "complaint", "Complaint"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
    MANUAL = "manual", "Added by staff"
    # Stops at a provider that reach order mail too: the recipient's
    # unsubscribe from a transactional stream (Postmark), and an address the
    # provider deactivated after a bounce we do not read as hard.
    UNSUBSCRIBE_ALL = "unsubscribe_all", "Unsubscribed from all mail"
    DEACTIVATED = "deactivated", "Deactivated at the provider"


class InsertingTransaction(Func):
    """The id (xid8, as a bigint) of the top-level transaction inserting the
    row, on PostgreSQL: a savepoint's own id (the row's xmin) cannot be
    judged against a snapshot. NULL on SQLite."""

    template = "pg_current_xact_id()::text::bigint"
    output_field = models.BigIntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return "NULL", []


# A Postmark reactivation that found nothing to lift (``_note_reactivation``):
# a row closed when made, only its time kept. No one's stop.
REACTIVATION_NOTE = Q(removed_at=F("created_at"), reactivated_at__isnull=False)


class Suppression(models.Model):
    """An address nothing more is sent to (marketing only, for an
    unsubscribe). Removal keeps the row, with who and why."""

    address = models.EmailField(max_length=254)
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    # What caused it: a message's public id, "admin:<user>", "api".
    source = models.CharField(max_length=255, blank=True, default="")
    # Stamped by the database (STATEMENT_TIMESTAMP()): the admin compares it
    # with when its page was drawn, by the same clock (integrations.clock).
    created_at = models.DateTimeField(db_default=Now())
    # Stamped by the database too: the admin's "select all" lifts an undrawn
    # row only if this transaction had committed when the page was drawn
    # (created_at is the INSERT's time; the row is seen from its COMMIT).
    created_xact = models.BigIntegerField(
        null=True, editable=False, db_default=InsertingTransaction()
    )
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.TextField(blank=True, default="")
    # A provider's stop: the account whose event it was (kept when its slug
    # changes), the provider's list it is on (Postmark's message stream; ""
    # when unknown or the provider has one) and the event's own time, so a
    # reactivation lifts only its own list's stops, and only older ones.
    account = models.ForeignKey(
        ProviderAccount,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # db_default (here and below): the release before inserts without it
    # while the migration has already run.
    stream = models.CharField(max_length=100, blank=True, default="", db_default="")
    occurred_at = models.DateTimeField(null=True, blank=True)
    # The provider's time of the reactivation that lifted it (or, on a row
    # closed when made, of one that found nothing of its own to lift).
    reactivated_at = models.DateTimeField(null=True, blank=True)
    # Adds no stronger than this entry that came while it was active (our
    # unsubscribe link, staff's stop, another account's event): each one's
    # reason, source, account_id, stream and occurred_at. A provider's
    # reactivation that lifts this entry makes the strongest of them active.
    absorbed = models.JSONField(
        default=list,
        db_default=Value([], output_field=models.JSONField()),
        blank=True,
        encoder=DjangoJSONEncoder,
    )
    # Bumped by every save of a stored row (``save``), so staff's removal
    # names the state they saw and is refused once the row changed.
    version = models.PositiveIntegerField(default=1, db_default=1, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["address"],
                condition=Q(removed_at__isnull=True),
                name="suppression_one_active_per_address",
            )
        ]
        indexes = [
            # Every provider stop looks for a later reactivation of its list.
            models.Index(
                fields=["address", "account", "stream"],
                condition=Q(reactivated_at__isnull=False),
                name="suppression_reactivated",
            )
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.get_reason_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Every write of a row holds its address's lock and the row's, so
        # counting on from the loaded value loses no update.
        if not self._state.adding:
            self.version += 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = [*kwargs["update_fields"], "version"]
        super().save(*args, **kwargs)


class SandboxEmail(models.Model):
    """A message the sandbox provider accepted: its mailbox, kept in the
    database so staff read what "went out" and look-ups work across
    processes."""

    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE)
    provider_message_id = models.CharField(max_length=64, unique=True)
    # Our message id: the sandbox accepts each once, as a real API keyed
    # by message would, so a replay after a lost answer sends nothing twice.
    message_id = models.CharField(max_length=64)
    to_email = models.CharField(max_length=254)
    from_email = models.CharField(max_length=254)
    subject = models.CharField(max_length=998)
    text_body = models.TextField()
    html_body = models.TextField(blank=True, default="")
    headers = models.JSONField(default=dict, blank=True)
    category = models.CharField(max_length=16, default=EmailCategory.TRANSACTIONAL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "message_id"], name="sandboxemail_unique_message"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_message_id} to {self.to_email}"
