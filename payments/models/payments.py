"""Payments, the attempts made for them at each gateway, refunds, saved
methods, recurring charges, and the sandbox gateway's own memory.

Amounts are integers in the currency's minor unit (``integrations.money``).
The database enforces ``0 <= refunded <= captured <= authorized`` on every
payment; services change status only through ``can_transition``.
"""

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now, Upper
from django.utils import timezone

from integrations.models import ProviderAccount
from integrations.models.attempts import KeyedAttempt
from integrations.public_ids import PublicIdField, new_public_id
from payments.providers.base import FINAL_ADVICE, HARD_DECLINES, RETRY_AFTER


# Module-level functions because the migrations name these defaults by path.
def new_payment_id() -> str:
    return new_public_id("pay_")


def new_refund_id() -> str:
    return new_public_id("re_")


def new_method_id() -> str:
    return new_public_id("pm_")


def new_recurring_id() -> str:
    return new_public_id("rc_")


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    REQUIRES_ACTION = "requires_action", "Requires action (3-D Secure)"
    AUTHORIZED = "authorized", "Authorized"
    CAPTURED = "captured", "Captured"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    VOIDED = "voided", "Voided"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked (fraud)"
    UNKNOWN = "unknown", "Unknown (reconciling)"


S = PaymentStatus
# Which status may follow which. Anything else is refused, so a late or
# duplicated provider event can never move a payment backwards.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset(
        {S.REQUIRES_ACTION, S.AUTHORIZED, S.CAPTURED, S.FAILED, S.BLOCKED, S.UNKNOWN}
    ),
    S.REQUIRES_ACTION: frozenset(
        {S.AUTHORIZED, S.CAPTURED, S.FAILED, S.VOIDED, S.UNKNOWN}
    ),
    S.UNKNOWN: frozenset(
        {S.REQUIRES_ACTION, S.AUTHORIZED, S.CAPTURED, S.FAILED, S.VOIDED}
    ),
    S.AUTHORIZED: frozenset({S.CAPTURED, S.VOIDED, S.UNKNOWN}),
    S.CAPTURED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.REFUNDED: frozenset(),
    S.VOIDED: frozenset(),
    S.FAILED: frozenset(),
    S.BLOCKED: frozenset(),
}
# A payment in one of these owns its charge at the provider.
MONEY_HOLDING_STATUSES = (
    S.AUTHORIZED,
    S.CAPTURED,
    S.PARTIALLY_REFUNDED,
    S.REFUNDED,
)
# How far along a payment is; webhooks only ever move it up this order.
STATUS_RANK: dict[str, int] = {
    S.PENDING: 0,
    S.UNKNOWN: 1,
    S.REQUIRES_ACTION: 2,
    S.AUTHORIZED: 3,
    S.CAPTURED: 4,
    S.PARTIALLY_REFUNDED: 5,
    S.REFUNDED: 6,
    S.VOIDED: 6,
    S.FAILED: 6,
    S.BLOCKED: 6,
}


# Moves outside TRANSITIONS that only the provider's own report of money may
# make (``Change.provider_says``): the provider's word on money wins. Each one
# contradicts what the storefront was told, so the payment goes to review.
CORRECTIONS: dict[str, frozenset[str]] = {
    # Stripe: payment_failed is not final; the intent may still succeed.
    S.FAILED: frozenset({S.AUTHORIZED, S.CAPTURED}),
    # Square FAILED after APPROVED; PayPal authorization denied.
    S.AUTHORIZED: frozenset({S.FAILED}),
    # Braintree settlement declined, PayPal capture denied or declined.
    S.CAPTURED: frozenset({S.FAILED}),
}
# The failure code of a payment whose reported money was not collected after
# all: final at the provider, so no later (or late) success undoes it.
NOT_COLLECTED = "not_collected"


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


class RiskLevel(models.TextChoices):
    NONE = "", "Not screened"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class ReviewState(models.TextChoices):
    NONE = "none", "Not in review"
    PENDING = "pending", "Waiting for review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    # Closed by what became of the payment, nothing left to decide: a fraud
    # hold the storefront voided, an unresolved payment staff settled by hand.
    RESOLVED = "resolved", "Resolved (nothing left to decide)"


# Review states that leave a payment to the storefront's requests (an owed
# capture is sent): never reviewed, or closed with nothing left to decide.
NOTHING_TO_REVIEW = (ReviewState.NONE, ReviewState.RESOLVED)


class ReviewReason(models.TextChoices):
    FRAUD = "", "Fraud screening"
    PROVIDER_CONTRADICTION = "provider_contradiction", "Provider contradicted us"
    DUPLICATE_CHARGE = "duplicate_charge", "Charge owned by another payment"
    UNRESOLVED = "unresolved", "Outcome could not be settled"
    CAPTURE_REFUSED = "capture_refused", "Gateway refused the owed capture"


class DisputeStatus(models.TextChoices):
    NONE = "", "No dispute"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Payment(models.Model):
    public_id = PublicIdField(default=new_payment_id)
    order_id = models.CharField(max_length=128, db_index=True)
    customer_reference = models.CharField(max_length=128, blank=True, default="")
    customer_email = models.EmailField(blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    amount = models.BigIntegerField(help_text="Requested, in minor units.")
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=24, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    capture_requested = models.BooleanField(
        default=True, help_text="False: the storefront asked to authorize only."
    )
    amount_authorized = models.BigIntegerField(default=0)
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    account = models.ForeignKey(
        ProviderAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        help_text="The account that served (or may have served) the payment.",
    )
    provider_reference = models.CharField(
        max_length=255, blank=True, default="", db_index=True
    )
    card_brand = models.CharField(max_length=32, blank=True, default="")
    card_last4 = models.CharField(max_length=4, blank=True, default="")
    wallet = models.CharField(max_length=32, blank=True, default="")
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=255, blank=True, default="")
    # The gateway's own code for the failure (its text stays on the timeline).
    failure_provider_code = models.CharField(max_length=64, blank=True, default="")
    # The gateway's advice on trying the card again (do_not_try_again: final
    # for it); for staff, never in the storefront's answer.
    failure_advice_code = models.CharField(max_length=32, blank=True, default="")
    # When the failure was learnt (the create's answer, a webhook, a look-up):
    # the card's rule orders declines by it, not by the charge's age (a row
    # stored before it: its created_at stands in; updated_at moves with writes).
    failure_learnt_at = models.DateTimeField(null=True, blank=True)
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True)
    risk_level = models.CharField(
        max_length=8, choices=RiskLevel.choices, blank=True, default=RiskLevel.NONE
    )
    risk_reasons = models.JSONField(default=list, blank=True)
    review_state = models.CharField(
        max_length=8, choices=ReviewState.choices, default=ReviewState.NONE
    )
    review_reason = models.CharField(
        max_length=24,
        choices=ReviewReason.choices,
        blank=True,
        default=ReviewReason.FRAUD,
        help_text="Why the payment waits for staff.",
    )
    dispute_status = models.CharField(
        max_length=8, choices=DisputeStatus.choices, blank=True, default=""
    )
    metadata = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(
        max_length=300,
        unique=True,
        null=True,
        blank=True,
        help_text="Idempotency key of the create call (scoped by its caller).",
    )
    # The saved method the charge was made to: a one-off charge's
    # (saved_method_charge; its key repeated for another method is refused)
    # and a recurring run's. The card's decline rules read the method's
    # charges by it (services.card_rule: the partial index in Meta, built
    # concurrently by 0017); null for a charge of a plain token.
    saved_method = models.ForeignKey(
        "SavedPaymentMethod",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="payments",
    )
    # Inserted with the database's time, which ages are measured by: a card's
    # charge through the ORM (the db_default makes it read that back), a
    # token's in its hand-built INSERT (payment_store). The default is for
    # rows made elsewhere (tests, admin).
    created_at = models.DateTimeField(
        default=timezone.now, db_default=Now(), db_index=True
    )
    updated_at = models.DateTimeField(auto_now=True)
    # When reconciliation last asked about it: the sweep takes the least
    # recently asked first, so payments it cannot settle starve none behind.
    reconcile_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("refund_payment", "Can refund payments"),
            ("settle_payment", "Can settle unknown payments by hand"),
        ]
        indexes = [
            models.Index(fields=["status", "updated_at"]),
            models.Index(fields=["review_state"]),
            models.Index(fields=["customer_reference", "created_at"]),
            # The e-mail velocity rule matches case-insensitively (UPPER on
            # both sides); an index on the plain column would go unused.
            models.Index(
                Upper("customer_email"),
                "created_at",
                name="payment_email_upper_created",
            ),
            models.Index(fields=["ip_address", "created_at"]),
            # The card's decline rules read a saved method's charges
            # (services.card_rule); charges of a plain token (null) are left out.
            models.Index(
                fields=["saved_method"],
                name="payment_saved_method",
                condition=Q(saved_method__isnull=False),
            ),
            # The card rule's two bounded reads (services.card_rule, 0020):
            # its final declines, then approvals made after the newest.
            models.Index(
                fields=["saved_method"],
                name="payment_card_final_decline",
                condition=Q(saved_method__isnull=False)
                & (
                    Q(failure_code__in=sorted(HARD_DECLINES))
                    | Q(failure_advice_code__in=sorted(FINAL_ADVICE))
                ),
            ),
            # The card network's waits (services.slots.advised_until, 0021):
            # read on every one-off charge of the card, a handful of rows.
            models.Index(
                fields=["saved_method"],
                name="payment_card_retry_advice",
                condition=Q(saved_method__isnull=False)
                & Q(failure_advice_code__in=sorted(RETRY_AFTER)),
            ),
            models.Index(
                fields=["saved_method", "created_at"],
                name="payment_card_approval",
                condition=Q(
                    saved_method__isnull=False, status__in=MONEY_HOLDING_STATUSES
                ),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="payment_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0), name="payment_refunded_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=F("amount_captured")),
                name="payment_refunded_lte_captured",
            ),
            models.CheckConstraint(
                condition=Q(amount_captured__lte=F("amount_authorized")),
                name="payment_captured_lte_authorized",
            ),
            models.CheckConstraint(
                condition=Q(amount_authorized__lte=F("amount")),
                name="payment_authorized_lte_amount",
            ),
            # One charge at a provider never belongs to two payments. Only
            # payments that hold money count: an unknown one may still name
            # the reference it tried (reconciliation ends it as a duplicate).
            models.UniqueConstraint(
                fields=["account", "provider_reference"],
                condition=~Q(provider_reference="")
                & Q(status__in=MONEY_HOLDING_STATUSES),
                name="payment_one_owner_per_charge",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def refundable(self) -> int:
        return self.amount_captured - self.amount_refunded

    @property
    def capturable(self) -> int:
        if self.status != PaymentStatus.AUTHORIZED:
            return 0
        return self.amount_authorized - self.amount_captured

    def can_transition(self, new: str) -> bool:
        return can_transition(self.status, new)


class PaymentAttempt(KeyedAttempt):
    """One operation at one account, written before the call so the
    idempotency key it sent is known even if the process dies mid-call."""

    payment = models.ForeignKey(
        Payment, on_delete=models.CASCADE, related_name="attempts"
    )
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.PROTECT, related_name="payment_attempts"
    )

    class Meta(KeyedAttempt.Meta):
        pass


class PaymentNote(models.Model):
    """A line on the payment's timeline the other records do not tell: a
    correction on the provider's word, a failure the payment left behind."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="notes")
    kind = models.CharField(max_length=24)
    title = models.CharField(max_length=255)
    detail = models.CharField(max_length=500, blank=True, default="")
    # The database's time, as the payment's other records are stamped: the
    # timeline orders them together (the INSERT reads it back).
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.title


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown"
    CANCELLED = "cancelled", "Cancelled (never reached the gateway)"


class Refund(models.Model):
    public_id = PublicIdField(default=new_refund_id)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="refunds"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(
        max_length=12, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    provider_reference = models.CharField(max_length=255, blank=True, default="")
    requested_by = models.CharField(max_length=150, blank=True, default="")
    idempotency_key = models.CharField(max_length=300, unique=True)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=255, blank=True, default="")
    failure_provider_code = models.CharField(max_length=64, blank=True, default="")
    # A refund the gateway could not be reached for: sent again from then on,
    # with the same key, until the gateway answers or staff cancel it.
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set while a retrier's send is in flight: staff cannot cancel it then
    # (the gateway may be refunding it right now).
    sending_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="refund_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class SavedPaymentMethod(models.Model):
    public_id = PublicIdField(default=new_method_id)
    customer_reference = models.CharField(max_length=128, db_index=True)
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.PROTECT, related_name="saved_methods"
    )
    provider_customer_id = models.CharField(max_length=255)
    provider_method_id = models.CharField(max_length=255)
    card_brand = models.CharField(max_length=32, blank=True, default="")
    card_last4 = models.CharField(max_length=4, blank=True, default="")
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    # What the fraud screening of its one-off charges reads (the blocklists):
    # the e-mail as given at save and the gateway's card fingerprint, if any.
    customer_email = models.EmailField(blank=True, default="")
    card_fingerprint = models.CharField(max_length=255, blank=True, default="")
    is_default = models.BooleanField(default=False)
    idempotency_key = models.CharField(
        max_length=300, unique=True, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_default", "-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "provider_method_id"],
                name="savedmethod_unique_provider_method",
            ),
            models.UniqueConstraint(
                fields=["customer_reference"],
                condition=Q(is_default=True),
                name="savedmethod_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class RecurringInterval(models.TextChoices):
    DAY = "day", "Daily"
    WEEK = "week", "Weekly"
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


class RecurringStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed (needs a new method)"


class RecurringCharge(models.Model):
    public_id = PublicIdField(default=new_recurring_id)
    saved_method = models.ForeignKey(
        SavedPaymentMethod, on_delete=models.PROTECT, related_name="recurring"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    interval = models.CharField(max_length=8, choices=RecurringInterval.choices)
    interval_count = models.PositiveSmallIntegerField(default=1)
    next_run_at = models.DateTimeField(db_index=True)
    # The day of the month charges fall on (the first run's): a short month's
    # last day stands in for it, and the next long month returns to it.
    # Null (rows made before it): each charge keeps the previous one's day.
    anchor_day = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=RecurringStatus.choices, default=RecurringStatus.ACTIVE
    )
    description = models.CharField(max_length=255, blank=True, default="")
    # The create's key (scoped by its caller), kept past the API's record:
    # a create replayed after that expired answers this charge, never a twin.
    idempotency_key = models.CharField(
        max_length=300, unique=True, null=True, blank=True
    )
    runs = models.PositiveIntegerField(default=0)
    last_payment = models.ForeignKey(
        Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["next_run_at", "pk"]
        # Staff's pause, resume and cancel in the admin (the page is read-only).
        permissions = [
            ("manage_recurringcharge", "Can pause, resume and cancel recurring charges")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="recurring_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class SandboxChargeKind(models.TextChoices):
    PAYMENT = "payment", "Payment"
    REFUND = "refund", "Refund"
    METHOD = "method", "Saved method"


class SandboxCharge(models.Model):
    """What the sandbox gateway remembers, as a real gateway would on its side:
    shared by every process, so retrieve and reconciliation work anywhere."""

    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="sandbox_charges"
    )
    kind = models.CharField(max_length=8, choices=SandboxChargeKind.choices)
    reference = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=255)
    parent_reference = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=24)
    amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True, default="")
    amount_authorized = models.BigIntegerField(default=0)
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    source_token = models.CharField(max_length=64, blank=True, default="")
    customer_id = models.CharField(max_length=64, blank=True, default="")
    card_brand = models.CharField(max_length=32, blank=True, default="")
    card_last4 = models.CharField(max_length=4, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "reference"], name="sandboxcharge_unique_ref"
            ),
            models.UniqueConstraint(
                fields=["account", "kind", "idempotency_key"],
                name="sandboxcharge_unique_key",
            ),
        ]

    def __str__(self) -> str:
        return self.reference
