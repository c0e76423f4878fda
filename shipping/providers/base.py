"""The shipping adapter contract: typed requests and results at the carrier
boundary, and the operations every carrier adapter implements.

The public operations (``rates``, ``create_label``, ...) are templates: they
check the request (``shipping.providers.validation``: zero weight, missing
postcode, international without customs, the carrier's ``limits``) and raise
``InvalidShippingRequest`` naming the field before anything is sent, then
call the carrier's hook (``carrier_rates``, ``carrier_create_label``, ...)
through ``call_hook``: a hook's bare exception becomes a ``ProviderError``
(``shipping.providers.hook_guard``). An adapter implements the hooks only.
Prices are integer minor units plus an ISO 4217 code; a carrier's decimal
price goes through ``rate_price`` (a rate) or ``billed_amount`` (a bought
label), its list of rates through ``keep_priced``: one unusable price drops
one rate, never the carrier's answer (``shipping.providers.prices``).
Weights and lengths convert through ``shipping.units``. Adapters raise
``integrations.errors`` types only: an unknown tracking number is
``Rejected(code="not_found")``, a carrier's validation answer is ``Rejected``
(``address_invalid`` for an address it cannot deliver to).
docs/providers/shipping.md has the table.
"""

import functools
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from integrations.errors import Rejected, Unknown
from integrations.providers.base import BaseAdapter
from integrations.webhooks.messages import WebhookMessage
from shipping.providers import answers, hook_guard, prices, validation
from shipping.providers.tracking_types import TrackingInfo, TrackRequest
from shipping.providers.validation import CarrierLimits, InvalidShippingRequest
from shipping.units import DimensionUnit, WeightUnit, convert_length, convert_weight

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "Address",
    "AddressValidation",
    "CarrierLimits",
    "Customs",
    "CustomsItem",
    "InvalidShippingRequest",
    "Label",
    "LabelFormat",
    "LabelLookup",
    "LabelRequest",
    "LabelStatus",
    "Parcel",
    "ParcelLabel",
    "Pickup",
    "PickupCancellation",
    "PickupRequest",
    "Rate",
    "RateRequest",
    "ShippingAdapter",
    "VoidRequest",
    "VoidResult",
]


# --- Addresses, parcels, customs ------------------------------------------


@dataclass(frozen=True)
class Address:
    name: str
    street_lines: tuple[str, ...]
    city: str
    postal_code: str
    country_code: str  # ISO 3166-1 alpha-2, upper case
    state_code: str = ""  # required by some carriers for US, CA, AU...
    company: str = ""
    phone: str = ""
    email: str = ""
    residential: bool | None = None  # None: not known


@dataclass(frozen=True)
class Parcel:
    weight: Decimal
    weight_unit: WeightUnit = WeightUnit.KG
    # All three or none; carriers rate by dimensional weight when given.
    length: Decimal | None = None
    width: Decimal | None = None
    height: Decimal | None = None
    dimension_unit: DimensionUnit = DimensionUnit.CM

    @property
    def has_dimensions(self) -> bool:
        return None not in (self.length, self.width, self.height)

    def weight_in(self, unit: str) -> Decimal:
        return convert_weight(self.weight, self.weight_unit, unit)

    def dimensions_in(self, unit: str) -> tuple[Decimal, Decimal, Decimal] | None:
        """(length, width, height) in ``unit``, or None without dimensions."""
        if not self.has_dimensions:
            return None
        sides = (self.length, self.width, self.height)
        return tuple(  # type: ignore[return-value]
            convert_length(side, self.dimension_unit, unit) for side in sides
        )


@dataclass(frozen=True)
class CustomsItem:
    description: str
    quantity: int
    value: int  # per unit, minor units of ``currency``
    currency: str
    weight: Decimal  # per unit
    origin_country: str  # ISO alpha-2
    weight_unit: WeightUnit = WeightUnit.KG
    hs_code: str = ""
    sku: str = ""


class ContentsType(StrEnum):
    MERCHANDISE = "merchandise"
    DOCUMENTS = "documents"
    GIFT = "gift"
    SAMPLE = "sample"
    RETURN = "return"


@dataclass(frozen=True)
class Customs:
    items: tuple[CustomsItem, ...]
    contents_type: ContentsType = ContentsType.MERCHANDISE
    incoterm: str = "DAP"  # DDP: the sender pays duties
    exporter_reference: str = ""  # EORI, EIN...

    @property
    def total_value(self) -> int:
        return sum(item.value * item.quantity for item in self.items)


# --- Rates ---------------------------------------------------------------


@dataclass(frozen=True)
class RateRequest:
    from_address: Address
    to_address: Address
    parcels: tuple[Parcel, ...]
    customs: Customs | None = None
    ship_date: date | None = None  # None: today
    # Only these services ("" or empty: every service the carrier offers).
    service_codes: tuple[str, ...] = ()
    currency: str = ""  # preferred quote currency, if the carrier lets us ask

    @property
    def is_international(self) -> bool:
        return self.from_address.country_code != self.to_address.country_code


@dataclass(frozen=True)
class Rate:
    """One service's price. ``carrier`` is who moves the parcel (a Shippo
    rate names USPS or UPS); the account that quoted it is the service's."""

    carrier: str
    service_code: str
    service_name: str
    amount: int  # minor units
    currency: str
    estimated_delivery: date | None = None
    transit_days: int | None = None
    # What buying this rate must send back (Shippo's rate object id).
    carrier_rate_id: str = ""
    # Non-secret detail kept with the quote (FedEx rated type, zone...).
    extra: Mapping[str, str] = field(default_factory=dict)


# --- Labels ----------------------------------------------------------------


class LabelFormat(StrEnum):
    PDF = "pdf"
    ZPL = "zpl"
    PNG = "png"


class LabelStatus(StrEnum):
    CREATED = "created"
    # Bought but not yet rendered (Shippo QUEUED): poll ``retrieve_label``.
    PENDING = "pending"


@dataclass(frozen=True)
class LabelRequest:
    from_address: Address
    to_address: Address
    parcels: tuple[Parcel, ...]
    service_code: str
    # Created once per shipment and sent on every retry and reconciliation.
    idempotency_key: str
    reference: str  # our shipment's public id; printed on the label
    customs: Customs | None = None
    label_format: LabelFormat = LabelFormat.PDF
    carrier_rate_id: str = ""  # from the Rate bought
    ship_date: date | None = None

    @property
    def is_international(self) -> bool:
        return self.from_address.country_code != self.to_address.country_code


@dataclass(frozen=True)
class ParcelLabel:
    """One parcel's own label where the carrier prints one per parcel
    (FedEx, UPS, Shippo multi-piece shipments)."""

    tracking_number: str
    label_data: bytes = b""
    # The carrier's id of this label where each is voided on its own (a
    # Shippo transaction); empty where voiding the shipment voids them all.
    carrier_reference: str = ""


@dataclass(frozen=True)
class Label:
    status: LabelStatus
    # The carrier's id for the shipment or transaction: what void and
    # retrieve name. Often the tracking number itself.
    carrier_shipment_id: str
    tracking_number: str = ""
    label_data: bytes = b""  # the file itself, decoded
    label_format: LabelFormat = LabelFormat.PDF
    # One per parcel of a multi-parcel shipment, the master's first.
    parcel_tracking_numbers: tuple[str, ...] = ()
    # Each parcel's own label, the master's first, when the carrier prints
    # one per parcel; empty when ``label_data`` covers every parcel.
    parcel_labels: tuple[ParcelLabel, ...] = ()
    amount: int | None = None  # what the carrier billed, if it says
    currency: str = ""
    service_code: str = ""
    estimated_delivery: date | None = None
    # The carrier's id of the rate bought, where its other parcels' labels
    # are found by it (a Shippo multi-piece purchase).
    carrier_rate_id: str = ""

    @property
    def provider_reference(self) -> str:
        # What integrations.attempts records as the attempt's reference.
        return self.carrier_shipment_id


@dataclass(frozen=True)
class LabelLookup:
    """What reconciliation knows about a label whose answer was lost."""

    idempotency_key: str
    reference: str  # our shipment's public id
    carrier_shipment_id: str = ""  # known for a pending label
    since: datetime | None = None  # the attempt's start
    parcel_count: int = 1  # the shipment's parcels: one label each, or one


@dataclass(frozen=True)
class LabelUpdate:
    """A label-state webhook (Shippo's ``transaction_updated``): the label
    made (``label``, or ``fetch_label`` when its file is still to be fetched),
    the carrier's reason it failed (``failure_*``), or its refund made or
    rejected."""

    carrier_shipment_id: str
    reference: str = ""  # our shipment's public id, when the carrier echoes it
    label: Label | None = None
    failure_code: str = ""
    failure_message: str = ""
    # The carrier rejected the refund of this label it had accepted (our
    # void): the label is valid and billed after all.
    refund_rejected: bool = False
    # The carrier refunded this label (or holds its refund pending, as our
    # void counts a refund queued): voided at the carrier.
    refunded: bool = False
    # The label's refund state read again from the carrier (an outgoing
    # call): the update it stands by now, or None when it says neither.
    # Called before a refund update is applied: the webhook may be forged
    # (a URL token only) or older than the carrier's last word.
    recheck: Callable[[], "LabelUpdate | None"] | None = field(
        default=None, compare=False, repr=False
    )
    # The made label, read with its file (an outgoing call): called only once
    # the webhook is known to settle a shipment (not a sibling parcel's).
    fetch_label: Callable[[], Label] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def made(self) -> bool:
        """The carrier made the label (it may still need fetching)."""
        return self.label is not None or self.fetch_label is not None


@dataclass(frozen=True)
class VoidRequest:
    carrier_shipment_id: str
    tracking_number: str
    idempotency_key: str
    service_code: str = ""
    # The other parcels' labels where each is voided on its own (their
    # ``ParcelLabel.carrier_reference``), voided before the shipment's own.
    parcel_references: tuple[str, ...] = ()


@dataclass(frozen=True)
class VoidResult:
    voided: bool
    # Why not, in the carrier's words (already in transit, past the window).
    detail: str = ""
    # Of ``VoidRequest.parcel_references``, those voided by this call.
    voided_parcels: tuple[str, ...] = ()


# --- Pickups and addresses ----------------------------------------------------


@dataclass(frozen=True)
class PickupRequest:
    address: Address
    pickup_date: date
    ready_time: time  # local to the address
    close_time: time
    parcel_count: int
    total_weight: Decimal
    idempotency_key: str
    weight_unit: WeightUnit = WeightUnit.KG
    tracking_numbers: tuple[str, ...] = ()
    instructions: str = ""
    service_code: str = ""  # some carriers book per service (FedEx ground)
    # The labels to collect as the carrier knows them (Shippo: transaction
    # ids) and, behind an aggregator, the carrier account that sold them.
    carrier_shipment_ids: tuple[str, ...] = ()
    carrier_account: str = ""


@dataclass(frozen=True)
class Pickup:
    confirmation_number: str
    pickup_date: date
    ready_time: time | None = None
    close_time: time | None = None
    location_code: str = ""  # FedEx: needed again to cancel
    amount: int | None = None  # a pickup fee, if charged
    currency: str = ""


@dataclass(frozen=True)
class PickupCancellation:
    confirmation_number: str
    pickup_date: date
    address: Address
    location_code: str = ""
    # One key per pickup's cancellation, the same on every retry: sent where
    # the carrier documents an idempotency header, and kept with each call.
    idempotency_key: str = ""
    on_send: Callable[[], None] = field(default=lambda: None, compare=False, repr=False)


@dataclass(frozen=True)
class AddressValidation:
    valid: bool
    # The carrier's standardised form of the address, when it has one.
    address: Address | None = None
    residential: bool | None = None
    messages: tuple[str, ...] = ()
    candidates: tuple[Address, ...] = ()


# --- The adapter ---------------------------------------------------------------


class ShippingAdapter(BaseAdapter):
    """Templates for every operation; a carrier implements the ``carrier_*``
    hooks. Required: ``carrier_rates``, ``carrier_create_label``,
    ``carrier_void_label``, ``carrier_track`` and ``health_check``. Optional
    (``supports(name)`` tells whether a carrier has one; without it the
    operation raises ``Rejected(code="not_supported")`` before any call):
    ``carrier_retrieve_label``, ``carrier_schedule_pickup``,
    ``carrier_cancel_pickup``, ``carrier_validate_address``,
    ``parse_tracking_update`` (carriers that post tracking webhooks) and
    ``parse_label_update`` (carriers that post label-state webhooks)."""

    kind = "shipping"
    limits: ClassVar[CarrierLimits] = CarrierLimits()
    label_formats: ClassVar[tuple[LabelFormat, ...]] = (LabelFormat.PDF,)
    # How long a label look-up by our reference (a list of recent labels) may
    # miss one just made: until then a miss is not proof that none was.
    lookup_lag_seconds: ClassVar[int] = 0
    # False where a label is voided by an id of its own (a Shippo transaction).
    voids_by_tracking_number: ClassVar[bool] = True
    _OPTIONAL: ClassVar[Mapping[str, str]] = {
        "retrieve_label": "carrier_retrieve_label",
        "schedule_pickup": "carrier_schedule_pickup",
        "cancel_pickup": "carrier_cancel_pickup",
        "validate_address": "carrier_validate_address",
        "tracking_webhooks": "parse_tracking_update",
        "label_webhooks": "parse_label_update",
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hook_guard.counting_sends(cls)

    def call_hook(self, hook: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``hook(*args, **kwargs)``, a carrier's hook: anything it raises is
        a ``ProviderError`` (``shipping.providers.hook_guard``)."""
        call = functools.partial(hook, *args, **kwargs)
        name = getattr(hook, "__name__", "carrier hook")
        return hook_guard.guarded(self.display_name, name, call)

    @classmethod
    def supports(cls, operation: str) -> bool:
        """True when the carrier implements ``operation``: one of the
        optional ones above, named without ``carrier_``."""
        hook = cls._OPTIONAL.get(operation)
        if hook is None:
            return hasattr(cls, f"carrier_{operation}")
        return getattr(cls, hook) is not getattr(ShippingAdapter, hook)

    # --- The operations (templates) -----------------------------------------

    def rates(self, request: RateRequest) -> list[Rate]:
        """Every service's price for the request (filtered by
        ``service_codes``); an empty list when the carrier serves none."""
        validation.check_shipment(
            request.from_address,
            request.to_address,
            request.parcels,
            request.customs,
            limits=self.limits,
        )
        # The last word on every price, whatever the adapter read it from.
        rates = self.keep_priced(
            self.call_hook(self.carrier_rates, request), prices.checked_rate
        )
        if request.service_codes:
            rates = [r for r in rates if r.service_code in request.service_codes]
        return rates

    def create_label(self, request: LabelRequest) -> Label:
        validation.check_shipment(
            request.from_address,
            request.to_address,
            request.parcels,
            request.customs,
            limits=self.limits,
        )
        validation.require(request.service_code, "service_code")
        validation.require(request.idempotency_key, "idempotency_key")
        if request.label_format not in self.label_formats:
            raise InvalidShippingRequest(
                f"{self.display_name} does not print {request.label_format} labels",
                param="label_format",
            )
        label = self.call_hook(self.carrier_create_label, request)
        return answers.checked_label(self.display_name, label)

    def void_label(self, request: VoidRequest) -> VoidResult:
        validation.require(request.carrier_shipment_id, "carrier_shipment_id")
        return self.call_hook(self.carrier_void_label, request)

    def retrieve_label(self, lookup: LabelLookup) -> Label | None:
        """The label bought under ``lookup`` (reconciliation after a lost
        answer, or a pending label's poll); None only when the carrier
        answered that there is none. Carriers that cannot look one up raise
        ``Unknown(code="lookup_not_supported")``: the shipment stays
        ``unknown`` for staff, and no second label is bought."""
        if not self.supports("retrieve_label"):
            raise Unknown(
                f"{self.display_name} cannot look a label up",
                code="lookup_not_supported",
            )
        label = self.call_hook(self.carrier_retrieve_label, lookup)
        if label is None:
            return None
        label = self.call_hook(
            self.label_with_parcels, label, parcels=lookup.parcel_count
        )
        return answers.checked_label(self.display_name, label)

    def label_with_parcels(self, label: Label, *, parcels: int) -> Label:
        """``label`` settled after its purchase (a poll, a webhook) with every
        parcel's own label, where the carrier names one parcel's at a time
        (Shippo). As given where one answer covers every parcel."""
        return label

    def track(self, request: TrackRequest) -> TrackingInfo:
        """Where the parcel is; ``Rejected(code="not_found")`` for a number
        the carrier does not know."""
        validation.require(request.tracking_number, "tracking_number")
        return self.call_hook(self.carrier_track, request)

    def schedule_pickup(self, request: PickupRequest) -> Pickup:
        self._require_support("schedule_pickup")
        validation.check_pickup(
            request.address,
            request.ready_time,
            request.close_time,
            request.parcel_count,
        )
        pickup = self.call_hook(self.carrier_schedule_pickup, request)
        return answers.checked_pickup(self.display_name, pickup)

    def cancel_pickup(self, request: PickupCancellation) -> None:
        self._require_support("cancel_pickup")
        validation.require(request.confirmation_number, "confirmation_number")
        self.call_hook(self.carrier_cancel_pickup, request)

    def cancel_going_out(self, request: PickupCancellation) -> None:
        """Right before the cancel goes out: credentials (a token), then on_send."""
        getattr(self, "auth_headers", dict)()  # a token fetched first, if any
        request.on_send()

    def validate_address(self, address: Address) -> AddressValidation:
        self._require_support("validate_address")
        validation.check_address(address, "address")
        return self.call_hook(self.carrier_validate_address, address)

    # --- A carrier's money (shipping.providers.prices) ----------------------

    def rate_price(self, value: object, currency: str) -> int | None:
        """A quoted price; ``UnusableAmount`` when it is not one."""
        return prices.rate_price(self, value, currency)

    def keep_priced(self, items: Iterable[T], read: Callable[[T], R | None]) -> list[R]:
        """``read`` over a carrier's answer, unusable prices dropped."""
        return prices.keep_priced(self, items, read)

    def billed_amount(self, value: object, currency: str) -> int | None:
        """A bought label's cost, None when the carrier's is unusable."""
        return prices.billed_amount(self, value, currency)

    def _require_support(self, operation: str) -> None:
        if not self.supports(operation):
            raise Rejected(
                f"{self.display_name} does not support {operation}",
                code="not_supported",
            )

    # --- Required hooks ---------------------------------------------------------

    @abstractmethod
    def carrier_rates(self, request: RateRequest) -> list[Rate]:
        raise NotImplementedError

    @abstractmethod
    def carrier_create_label(self, request: LabelRequest) -> Label:
        """Buy the label. ``request.idempotency_key`` goes to carriers that
        take one; the label's bytes come back decoded."""
        raise NotImplementedError

    @abstractmethod
    def carrier_void_label(self, request: VoidRequest) -> VoidResult:
        raise NotImplementedError

    @abstractmethod
    def carrier_track(self, request: TrackRequest) -> TrackingInfo:
        raise NotImplementedError

    # --- Optional hooks (see ``supports``) -----------------------------------

    def carrier_retrieve_label(self, lookup: LabelLookup) -> Label | None:
        raise NotImplementedError

    def carrier_schedule_pickup(self, request: PickupRequest) -> Pickup:
        raise NotImplementedError

    def carrier_cancel_pickup(self, request: PickupCancellation) -> None:
        raise NotImplementedError

    def carrier_validate_address(self, address: Address) -> AddressValidation:
        raise NotImplementedError

    def parse_tracking_update(self, message: WebhookMessage) -> TrackingInfo | None:
        """A verified tracking webhook, translated; None for event types
        that carry no tracking."""
        raise NotImplementedError

    def parse_label_update(self, message: WebhookMessage) -> LabelUpdate | None:
        """A verified label-state webhook, translated; None for event types
        (or states, such as still queued) that settle nothing."""
        raise NotImplementedError
