"""The shipping adapter contract: typed requests and results at the carrier
boundary, and the operations every carrier adapter implements.

The public operations (``rates``, ``create_label``, ...) are templates: they
check the request (``shipping.providers.validation``: zero weight, missing
postcode, international without customs, the carrier's ``limits``) and raise
``InvalidShippingRequest`` naming the field before anything is sent, then
call the carrier's hook (``carrier_rates``, ``carrier_create_label``, ...)
through ``call_hook``: a hook's bare exception becomes a ``ProviderError``
(``shipping.providers.hook_guard``). An adapter implements the hooks only.
The typed requests and results live in ``shipping.providers.shipment_types``
(re-exported here). Prices are integer minor units plus an ISO 4217 code;
a carrier's decimal price goes through ``rate_price`` (a rate) or
``billed_amount`` (a bought label), its list of rates through
``keep_priced``: one unusable price drops one rate, never the carrier's
answer (``shipping.providers.prices``).
Weights and lengths convert through ``shipping.units``. Adapters raise
``integrations.errors`` types only: an unknown tracking number is
``Rejected(code="not_found")``, a carrier's validation answer is ``Rejected``
(``address_invalid`` for an address it cannot deliver to).
docs/providers/shipping.md has the table.
"""

import functools
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar

from integrations.errors import Rejected, Unknown
from integrations.providers.base import BaseAdapter
from integrations.webhooks.messages import WebhookMessage
from shipping.providers import answers, hook_guard, prices, validation
from shipping.providers.shipment_types import (
    Address,
    AddressValidation,
    ContentsType,
    Customs,
    CustomsItem,
    Label,
    LabelFormat,
    LabelLookup,
    LabelRequest,
    LabelStatus,
    LabelUpdate,
    Parcel,
    ParcelLabel,
    Pickup,
    PickupCancellation,
    PickupRequest,
    Rate,
    RateRequest,
    VoidRequest,
    VoidResult,
)
from shipping.providers.tracking_types import TrackingInfo, TrackRequest
from shipping.providers.us_states import state_sent
from shipping.providers.validation import CarrierLimits, InvalidShippingRequest

T = TypeVar("T")
R = TypeVar("R")
RequestT = TypeVar("RequestT", RateRequest, LabelRequest)

__all__ = [
    "Address",
    "AddressValidation",
    "CarrierLimits",
    "ContentsType",
    "Customs",
    "CustomsItem",
    "InvalidShippingRequest",
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
    "Quoted",
    "Rate",
    "RateRequest",
    "ShippingAdapter",
    "VoidRequest",
    "VoidResult",
]


@dataclass(frozen=True)
class Quoted:
    """A quote's rates, and the services the carrier offered that this
    request cannot buy (a phone their label requires), each with our
    refusal: left out, not a reason to refuse the others."""

    rates: list[Rate]
    left_out: tuple[tuple[Rate, InvalidShippingRequest], ...] = ()


# --- The adapter ---------------------------------------------------------------


class ShippingAdapter(BaseAdapter):
    """Templates for every operation; a carrier implements the ``carrier_*``
    hooks. Required: ``carrier_rates``, ``carrier_create_label``,
    ``carrier_track`` and ``health_check``. Optional (``supports(name)``
    tells whether a carrier has one; without it the operation raises
    ``Rejected(code="not_supported")`` before any call):
    ``carrier_void_label`` (MyDHL has no cancel of a shipment),
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
        "void_label": "carrier_void_label",
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

    def check_shipment(
        self,
        request: RateRequest | LabelRequest,
        *,
        quote: bool | None = None,
        service_code: str = "",
    ) -> None:
        """``InvalidShippingRequest`` (a 400 naming the field) for a request
        this carrier cannot take: before any call, and before a service
        stores a row for it. ``quote``: checked for a quote (None: a
        ``RateRequest`` is), also against ``limits.rating_fields``; a label
        buy checks its quote's request with ``quote=False`` and its
        ``service_code`` (a label's own is checked anyway)."""
        validation.check_shipment(
            request.from_address,
            request.to_address,
            request.parcels,
            request.customs,
            limits=self.limits,
            carrier=self.display_name,
            quote=isinstance(request, RateRequest) if quote is None else quote,
        )
        if isinstance(request, LabelRequest):
            service_code = request.service_code
        asked = (service_code,) if service_code else ()
        if isinstance(request, RateRequest) and not asked:
            asked = request.service_codes
        refused = self.services_refused(request, asked)
        # Refused whole only when every service asked is: else left out.
        if asked and all(code in refused for code in asked):
            raise refused[asked[0]]

    def services_refused(
        self, request: RateRequest | LabelRequest, codes: Iterable[str]
    ) -> dict[str, InvalidShippingRequest]:
        """Our refusal of each of ``codes`` with rules of its own
        (``limits.service_fields``) that ``request`` cannot buy, by code."""
        refused = {}
        for code in dict.fromkeys(codes):
            try:
                validation.check_service(
                    request.from_address,
                    request.to_address,
                    code,
                    limits=self.limits,
                    carrier=self.display_name,
                )
            except InvalidShippingRequest as refusal:
                refused[code] = refusal
        return refused

    def rates(self, request: RateRequest) -> list[Rate]:
        """Every service's price for the request (filtered by
        ``service_codes``); an empty list when the carrier serves none."""
        return self.quoted(request).rates

    def quoted(self, request: RateRequest) -> Quoted:
        """``rates``, with the services offered that ``request`` cannot buy
        left out and listed with our refusal (``Quoted.left_out``)."""
        self.check_shipment(request)
        # The last word on every price, whatever the adapter read it from.
        rates = self.keep_priced(
            self.call_hook(self.carrier_rates, _states_sent(request)),
            prices.checked_rate,
        )
        rates = answers.storable_rates(self.display_name, rates)
        if request.service_codes:
            rates = [r for r in rates if r.service_code in request.service_codes]
        refused = self.services_refused(request, (r.service_code for r in rates))
        # One entry per service left out (a carrier may price one twice).
        left_out = {
            r.service_code: (r, refused[r.service_code])
            for r in rates
            if r.service_code in refused
        }
        kept = [r for r in rates if r.service_code not in refused]
        return Quoted(kept, tuple(left_out.values()))

    def create_label(self, request: LabelRequest) -> Label:
        self.check_shipment(request)
        validation.require(request.service_code, "service_code")
        validation.require(request.idempotency_key, "idempotency_key")
        if request.label_format not in self.label_formats:
            raise InvalidShippingRequest(
                f"{self.display_name} does not print {request.label_format} labels",
                param="label_format",
            )
        label = self.call_hook(self.carrier_create_label, _states_sent(request))
        return self.checked(label)

    def void_label(self, request: VoidRequest) -> VoidResult:
        self._require_support("void_label")
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
        return self.settled_label(label, parcels=lookup.parcel_count)

    def settled_label(self, label: Label, *, parcels: int) -> Label:
        """A label settled after its purchase (a poll, a webhook) with every
        parcel's own label, each checked as a bought label is."""
        label = self.call_hook(self.label_with_parcels, label, parcels=parcels)
        return self.checked(label)

    def checked(self, label: Label) -> Label:
        """Every label an adapter hands over (bought, polled, a webhook's):
        a string that cannot be stored is ``Unknown(malformed_response)``,
        never cut; a file that is not whole is ``GarbledLabelFile`` (its ids
        kept: the label was made). ``shipping.providers.answers``."""
        label = answers.checked_label(self.display_name, label)
        return answers.checked_files(self.display_name, label)

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
        validation.check_pickup_fields(request, self.limits, self.display_name)
        sent = replace(request, address=state_sent(request.address))
        pickup = self.call_hook(self.carrier_schedule_pickup, sent)
        return answers.checked_pickup(self.display_name, pickup)

    def cancel_pickup(self, request: PickupCancellation) -> None:
        self._require_support("cancel_pickup")
        validation.require(request.confirmation_number, "confirmation_number")
        self.call_hook(self.carrier_cancel_pickup, request)

    def cancel_going_out(self, request: PickupCancellation) -> None:
        """Right before the cancel goes out: credentials (a token), then on_send."""
        getattr(self, "auth_headers", dict)()  # a token fetched first, if any
        request.on_send()

    def label_update(self, message: WebhookMessage) -> LabelUpdate | None:
        """A verified label-state webhook, translated and checked: a label id
        or label it would store that cannot be (``shipping.providers.answers``)
        is ``Unknown(malformed_response)``, its fetched label too."""
        self._require_support("label_webhooks")
        update = self.call_hook(self.parse_label_update, message)
        if update is None:
            return None
        return answers.checked_label_update(self.display_name, update)

    def validate_address(self, address: Address) -> AddressValidation:
        self._require_support("validate_address")
        validation.check_address(address, "address")
        validation.check_address_fields(
            address, "address", self.limits.address_fields, self.display_name
        )
        return self.call_hook(self.carrier_validate_address, state_sent(address))

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
    def carrier_track(self, request: TrackRequest) -> TrackingInfo:
        raise NotImplementedError

    # --- Optional hooks (see ``supports``) -----------------------------------

    def carrier_void_label(self, request: VoidRequest) -> VoidResult:
        raise NotImplementedError

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


def _states_sent(request: RequestT) -> RequestT:
    """``request`` as every carrier is sent it: a US state's or territory's
    name as its code (us_states), as the field checks counted it."""
    return replace(
        request,
        from_address=state_sent(request.from_address),
        to_address=state_sent(request.to_address),
    )
