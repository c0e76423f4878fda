"""The boundary half of the shipping adapter contract: the typed requests
and results that cross it (addresses, parcels, customs, rates, labels, voids,
pickups, address checks). ``shipping.providers.base`` re-exports them, so
callers import them from either; the adapter and its templates live there."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum

from shipping.units import DimensionUnit, WeightUnit, convert_length, convert_weight

__all__ = [
    "Address",
    "AddressValidation",
    "ContentsType",
    "Customs",
    "CustomsItem",
    "Label",
    "LabelFormat",
    "LabelLookup",
    "LabelRequest",
    "LabelStatus",
    "LabelUpdate",
    "Parcel",
    "ParcelLabel",
    "Pickup",
    "PickupCancellation",
    "PickupRequest",
    "Rate",
    "RateRequest",
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
    # The collected labels' services: behind an aggregator they name the
    # carrier that collects (Shippo's tokens), whose pickup rules stand.
    service_codes: tuple[str, ...] = ()


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
