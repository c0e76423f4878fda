"""The payments adapter contract: typed requests and results at the provider
boundary, and the operations every gateway adapter implements.

Amounts are integers in the currency's minor unit with an ISO 4217 code
(``integrations.money`` converts for providers that want decimals). Adapters
raise ``integrations.errors`` types: a decline is ``Rejected`` with one of
``DECLINE_CODES`` as ``code`` and the provider's own code in
``provider_code``; nothing else is raised for a refusal.
"""

from abc import abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from integrations.errors import Rejected, Unknown
from integrations.providers.base import BaseAdapter
from integrations.webhooks.messages import WebhookMessage

# Our decline codes; adapters map the provider's codes onto these.
DECLINE_CODES = (
    "card_declined",  # generic / do not honour
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "incorrect_number",
    "lost_or_stolen",
    "fraudulent",
    "processing_error",
    "authentication_required",  # 3-D Secure needed but not possible (off-session)
    "stop_payment",  # the cardholder stopped payments to us (revoked the mandate)
)
# The gateway's advice on trying a declined card again, in Stripe's words,
# which the other adapters translate theirs to. Kept for staff only.
DO_NOT_TRY_AGAIN = "do_not_try_again"
# Our decline codes that no retry on the same card mends: the card lost or
# stolen, expired, its number or account invalid or closed (Braintree 2007,
# PayPal 1330), the cardholder's stop of payments to us. Card networks fine
# retries of these. Soft ones (insufficient funds, do-not-honour, fraud
# suspected, 3-D Secure) may pass later. A soft code is final too when the
# gateway advised not to try again (FINAL_ADVICE): payments.services.card_rule.
STOP_PAYMENT = "stop_payment"
HARD_DECLINES = frozenset(
    {"lost_or_stolen", "expired_card", "incorrect_number", STOP_PAYMENT}
)
FINAL_ADVICE = frozenset({DO_NOT_TRY_AGAIN})
TRY_AGAIN_LATER = "try_again_later"
# The card networks' merchant advice codes (Mastercard's MAC, which PayPal's
# ``payment_advice_code`` and Stripe's ``network_advice_code`` pass on): 21
# the cardholder stopped recurring payments to us, 03 do not try again, 02
# try again later, 01 new account information (a new card replaces this one),
# 24-30 retry after 1 hour, 24 hours, 2, 4, 6, 8, 10 days (Braintree's
# "Merchant Advice Codes" reference).
RETRY_AFTER: dict[str, timedelta] = {
    "retry_after_1_hour": timedelta(hours=1),
    "retry_after_24_hours": timedelta(hours=24),
    "retry_after_2_days": timedelta(days=2),
    "retry_after_4_days": timedelta(days=4),
    "retry_after_6_days": timedelta(days=6),
    "retry_after_8_days": timedelta(days=8),
    "retry_after_10_days": timedelta(days=10),
}
NETWORK_ADVICE: dict[str, str] = {
    "21": DO_NOT_TRY_AGAIN,
    "01": DO_NOT_TRY_AGAIN,
    "03": DO_NOT_TRY_AGAIN,
    "02": TRY_AGAIN_LATER,
    **{str(code): word for code, word in zip(range(24, 31), RETRY_AFTER, strict=True)},
}
STOP_PAYMENT_ADVICE = "21"


def advice_with_network(gateway_advice: str, network_advice: str) -> str:
    """The gateway's own advice, else the card network's; a network's wait
    (MAC 24-30) is more precise than a plain "try again later"."""
    network = NETWORK_ADVICE.get(network_advice, "")
    if network in RETRY_AFTER and gateway_advice in ("", TRY_AGAIN_LATER):
        return network
    return gateway_advice or network


class Decline(Rejected):
    """A card's decline with the gateway's advice on trying it again, if it
    gave one (``advice_code``: ``DO_NOT_TRY_AGAIN``, ``TRY_AGAIN_LATER``,
    Stripe's ``confirm_card_data``)."""

    def __init__(self, message: str, *, advice_code: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.advice_code = advice_code


class ProviderStatus(StrEnum):
    """Where the provider says a payment stands."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    VOIDED = "voided"
    FAILED = "failed"


@dataclass(frozen=True)
class PaymentRequest:
    amount: int
    currency: str
    # Client-side token, nonce, PaymentMethod id or approved order id; never a PAN.
    source_token: str
    capture: bool  # False: authorize only
    idempotency_key: str
    order_id: str
    customer_reference: str = ""
    customer_email: str = ""
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    # Merchant-initiated charge of a saved method.
    provider_customer_id: str = ""
    off_session: bool = False
    return_url: str = ""


@dataclass(frozen=True)
class PaymentResult:
    status: ProviderStatus
    provider_reference: str
    currency: str
    amount_authorized: int = 0
    amount_captured: int = 0
    card_brand: str = ""
    card_last4: str = ""
    wallet: str = ""
    # requires_action: what the storefront needs to finish 3-D Secure.
    client_secret: str = ""
    next_action: dict | None = None
    raw_status: str = ""
    # A capture that the provider records as its own object (Braintree's
    # partial settlement child transaction): what a refund of it must name.
    capture_reference: str = ""
    # The order id the create sent, where the provider reports it back:
    # another order's charge is never taken for this one.
    order_id: str = ""
    # FAILED: the decline a look-up found, as the adapter translates a
    # decline answered to the create call.
    decline: Rejected | None = None


@dataclass(frozen=True)
class PaymentLookup:
    """What the create call sent, for providers that can search on it."""

    order_id: str
    amount: int
    currency: str
    since: datetime | None = None  # the payment's creation, less a margin


@dataclass(frozen=True)
class CaptureRequest:
    provider_reference: str
    amount: int
    currency: str
    idempotency_key: str
    final: bool = True  # no further captures on this authorization


@dataclass(frozen=True)
class RefundRequest:
    provider_reference: str  # the payment (or capture) being refunded
    amount: int
    currency: str
    idempotency_key: str
    reason: str = ""


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class RefundResult:
    provider_reference: str
    status: RefundStatus
    amount: int
    currency: str


@dataclass(frozen=True)
class SaveMethodRequest:
    customer_reference: str
    source_token: str
    idempotency_key: str
    customer_email: str = ""
    provider_customer_id: str = ""  # reuse when the customer already exists


@dataclass(frozen=True)
class SavedMethod:
    provider_customer_id: str
    provider_method_id: str
    card_brand: str = ""
    card_last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    # The gateway's id of the card number (the card blocklist's value), if any.
    card_fingerprint: str = ""


class PaymentEventKind(StrEnum):
    AUTHORIZED = "authorized"
    SUCCEEDED = "succeeded"  # captured
    # Not (yet) paid; may still succeed later (Stripe's payment_failed).
    FAILED = "failed"
    # Final: money reported authorized or captured was not collected after
    # all (Braintree settlement declined, PayPal capture denied, Square FAILED).
    FAILED_FINAL = "failed_final"
    REFUNDED = "refunded"
    VOIDED = "voided"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_CLOSED = "dispute_closed"


@dataclass(frozen=True)
class PaymentEvent:
    """A provider webhook, translated."""

    kind: PaymentEventKind
    provider_reference: str  # the payment it concerns
    amount: int | None = None
    currency: str = ""
    refund_reference: str = ""
    dispute_reference: str = ""
    dispute_status: str = ""
    occurred_at: datetime | None = None
    # REFUNDED: ``amount`` is the payment's total refunded so far (Stripe's
    # ``charge.refunded``), not the one refund's.
    amount_is_total: bool = False
    # FAILED / FAILED_FINAL: the decline the event reports, as the adapter
    # translates a decline answered to the create call.
    decline: Rejected | None = None


@dataclass(frozen=True)
class MetadataLimits:
    """What a provider accepts as metadata, and the keys its adapter adds."""

    max_keys: int
    max_key_length: int
    max_value_length: int
    forbidden_key_characters: str = ""
    reserved_keys: frozenset[str] = frozenset()


class PaymentsAdapter(BaseAdapter):
    kind = "payments"
    # None: the adapter sends no metadata, so any is fine.
    metadata_limits: ClassVar[MetadataLimits | None] = None
    # A source token this provider can take matches this (full match); ""
    # when it documents no format.
    source_format: ClassVar[str] = ""
    # The source belongs to the account that created it (a PayPal order):
    # another account's "not found" means nothing was done, not a decline.
    source_bound_to_account: ClassVar[bool] = False
    # The form of this provider's saved payment methods' ids (full match; ""
    # if none). Such an id sent as a one-time source token is refused at our
    # API (the gateway charges it only with its customer, which a token's
    # create does not send): if ``saved_method_only`` (no one-time token has
    # that form), whether we store it or not; else if we store it.
    saved_method_format: ClassVar[str] = ""
    saved_method_only: ClassVar[bool] = False
    # Within a shared ``saved_method_format``, a form no one-time token has
    # (Stripe's ``card_``: a Card exists only on its Customer): refused
    # whether we store it or not, as for ``saved_method_only``.
    saved_method_only_format: ClassVar[str] = ""
    # Square can cancel a payment by the idempotency key of its create call.
    supports_cancel_by_idempotency_key: ClassVar[bool] = False
    # Longest idempotency key the provider accepts (Square: 45).
    max_idempotency_key_length: ClassVar[int] = 255
    # The service never asks this provider to authorize and capture in one
    # call: it authorizes (capture=False), stores the provider reference,
    # then captures. A lost create is then always an authorization that
    # cancel by idempotency key can void (Square), and a lost capture has a
    # reference reconciliation can look up.
    capture_after_authorize: ClassVar[bool] = False
    # How long after a create the provider's look-up by idempotency key may
    # still miss it (Stripe's search index lags). Until then "not found" is
    # not an answer: the payment stays unknown and is asked again.
    lookup_lag_seconds: ClassVar[int] = 0

    @abstractmethod
    def authorize(self, request: PaymentRequest) -> PaymentResult:
        """Create a payment: authorize only, or authorize and capture."""

    @abstractmethod
    def capture(self, request: CaptureRequest) -> PaymentResult: ...

    @abstractmethod
    def void(
        self, *, provider_reference: str, idempotency_key: str
    ) -> PaymentResult: ...

    @abstractmethod
    def refund(self, request: RefundRequest) -> RefundResult: ...

    def retrieve(
        self,
        *,
        provider_reference: str = "",
        idempotency_key: str = "",
        lookup: PaymentLookup | None = None,
    ) -> PaymentResult | None:
        """Look a payment up for reconciliation; None only if the provider
        answered that it has none. By reference when there is one, else by
        what the create call sent (``retrieve_by_key``)."""
        if provider_reference:
            return self.none_if_not_found(
                lambda: self.retrieve_by_reference(provider_reference)
            )
        if not idempotency_key and lookup is None:
            raise ValueError("retrieve needs a provider reference or idempotency key")
        return self.retrieve_by_key(idempotency_key=idempotency_key, lookup=lookup)

    @abstractmethod
    def retrieve_by_reference(self, provider_reference: str) -> PaymentResult:
        """The payment the provider knows by this reference (its "not found"
        is a ``Rejected`` ``not_found``)."""

    def retrieve_by_key(
        self, *, idempotency_key: str, lookup: PaymentLookup | None
    ) -> PaymentResult | None:
        """Find a payment whose create call's answer was lost, by its
        idempotency key or ``lookup`` (order id, amount: for providers that
        can search on it); None when the provider has none. A provider that
        cannot look up with what it is given raises
        ``Unknown(code="lookup_not_supported")``."""
        raise Unknown(
            f"{self.display_name} cannot look a payment up without its reference",
            code="lookup_not_supported",
        )

    def reference_before_call(self, request: PaymentRequest) -> str:
        """The provider reference the payment will have, when it is known
        before the create call (PayPal: the approved order id). The service
        stores it with the attempt first, so an unknown outcome can be looked
        up by it. "" when the provider assigns one."""
        return ""

    @abstractmethod
    def save_method(self, request: SaveMethodRequest) -> SavedMethod: ...

    def source_from_reference(self, provider_reference: str) -> str:
        """The source token the create call took, when the reference is it
        (PayPal: the approved order id), so reconciliation can re-send the
        create under the same idempotency key; "" when it cannot."""
        return ""

    def charge_saved(self, request: PaymentRequest) -> PaymentResult:
        """Merchant-initiated charge; most providers use the same call."""
        return self.authorize(request)

    def cancel_by_idempotency_key(self, idempotency_key: str) -> bool:
        """Cancel whatever the create call with this key left behind. True
        only when the provider's answer means nothing was or can still be
        charged under the key (then the payment may be settled ``failed``);
        False leaves the payment ``unknown`` for staff."""
        raise NotImplementedError(
            f"{self.display_name} cannot cancel by idempotency key"
        )

    @abstractmethod
    def parse_payment_event(self, message: WebhookMessage) -> PaymentEvent | None:
        """Translate a verified webhook; None for event types we ignore."""
