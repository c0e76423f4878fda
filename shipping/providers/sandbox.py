"""The sandbox carrier: behaves like a real one, through the account's
ProviderClient (call log, breaker, limiter; the inherited ``latency_ms``,
``error_rate`` and ``outage`` settings inject faults).

- Rates by zone (same region, country, trade area, elsewhere), started
  kilogram and service (``SBX_GROUND``, ``SBX_EXPRESS``, ``SBX_OVERNIGHT``,
  the last within a country only), in the account's ``currency``, scaled by
  its ``price_factor`` so two sandbox accounts quote differently.
- Labels as real PDFs (or ZPL), with a tracking number that carries the
  label's creation time, so tracking advances one step every
  ``tracking_step_seconds`` (created, picked up, at the hub, out for
  delivery, delivered) in every process without stored state.
- Test inputs, by the to-address's postcode: ``00000`` is refused as
  ``address_invalid`` (400); ``99999`` fails delivery and is returned.
- A void is refused once the parcel has been picked up.
- ``announce_tracking`` (the ``shipping.sandbox_tracking`` schedule) posts a
  signed ``shipment.tracking_updated`` webhook for each label whose parcel
  has moved since the last one, as a carrier's push notifications do.
- It remembers each label it sold (``SandboxLabel``): a repeated idempotency
  key answers the first label, and ``retrieve_label`` finds a label whose
  answer was lost. The ``lose_label_answers`` setting makes every label, then
  loses the answer as a read timeout (retries under the same key too);
  ``garble_label_files`` cuts every label file short (bought or looked up).
"""

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.errors import Rejected, Unknown
from integrations.providers.base import ConfigField
from integrations.providers.sandbox import SandboxAdapter
from integrations.webhooks.messages import WebhookMessage
from shipping.models import SandboxLabel
from shipping.providers import sandbox_documents, sandbox_rules
from shipping.providers.base import (
    Address,
    AddressValidation,
    Label,
    LabelFormat,
    LabelLookup,
    LabelRequest,
    LabelStatus,
    Pickup,
    PickupCancellation,
    PickupRequest,
    Rate,
    RateRequest,
    ShippingAdapter,
    VoidRequest,
    VoidResult,
)
from shipping.providers.tracking_types import TrackingInfo, TrackingStatus, TrackRequest

_LOCATION = "Sandbox hub"
TRACKING_EVENT = "shipment.tracking_updated"


class SandboxShippingAdapter(SandboxAdapter, ShippingAdapter):
    display_name = "Sandbox shipping"
    label_formats = (LabelFormat.PDF, LabelFormat.ZPL)
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        *SandboxAdapter.settings_fields,
        ConfigField("currency", "Quote currency", required=False, default="USD"),
        ConfigField(
            "price_factor",
            "Price factor",
            type="float",
            required=False,
            default=1.0,
            min_value=0.1,
            max_value=10,
            help_text="Scales every price, so two sandbox carriers differ.",
        ),
        ConfigField(
            "tracking_step_seconds",
            "Seconds per tracking step",
            type="int",
            required=False,
            default=600,
            min_value=1,
            max_value=sandbox_rules.MAX_STEP_SECONDS,
            help_text="How fast a parcel moves from one scan to the next "
            "(a week at most).",
        ),
        ConfigField(
            "lose_label_answers",
            "Lose label answers",
            type="bool",
            required=False,
            default=False,
            help_text="Labels are made, then the answer times out: the "
            "shipment goes unknown until reconciliation finds the label.",
        ),
        ConfigField(
            "garble_label_files",
            "Garble label files",
            type="bool",
            required=False,
            default=False,
            help_text="Labels are made, their files cut short: the shipment "
            "keeps its tracking number and goes unknown until a whole file "
            "is fetched (untick to heal).",
        ),
    )

    # --- Rates and labels -------------------------------------------------

    def carrier_rates(self, request: RateRequest) -> list[Rate]:
        return self.sandbox_call("rates", lambda: self._quote(request))

    def _quote(self, request: RateRequest) -> list[Rate]:
        _refuse_invalid(request.to_address)
        factor = Decimal(str(self.setting("price_factor") or 1))
        return sandbox_rules.quote(
            request,
            currency=str(self.setting("currency") or "USD").upper(),
            factor=factor,
            today=timezone.localdate(),
        )

    def carrier_create_label(self, request: LabelRequest) -> Label:
        return self.sandbox_call(
            "create_label",
            lambda: self._label(request),
            idempotency_key=request.idempotency_key,
        )

    def _label(self, request: LabelRequest) -> Label:
        known = SandboxLabel.objects.filter(
            account=self.account, idempotency_key=request.idempotency_key
        ).first()
        if known is not None and not self.setting("lose_label_answers"):
            return self._served(_label_of(known, request))
        if known is not None:
            raise Unknown("sandbox lost the answer (simulated)", code="read_timeout")
        rate = self._rate_for(request)
        number = sandbox_rules.tracking_number(
            created_at=timezone.now(),
            key=request.idempotency_key,
            exception=request.to_address.postal_code
            == sandbox_rules.EXCEPTION_POSTCODE,
        )
        try:
            with transaction.atomic():
                sold = SandboxLabel.objects.create(
                    account=self.account,
                    idempotency_key=request.idempotency_key,
                    reference=request.reference,
                    tracking_number=number,
                    service_code=rate.service_code,
                    label_format=request.label_format,
                    amount=rate.amount,
                    currency=rate.currency,
                )
        except IntegrityError:
            # The same key sold at once in another process: one label.
            sold = SandboxLabel.objects.get(
                account=self.account, idempotency_key=request.idempotency_key
            )
        if self.setting("lose_label_answers"):
            raise Unknown("sandbox lost the answer (simulated)", code="read_timeout")
        return self._served(_label_of(sold, request))

    def _served(self, label: Label) -> Label:
        """The label as the wire brings it: cut short when files are garbled."""
        if not self.setting("garble_label_files"):
            return label
        return replace(label, label_data=label.label_data[: len(label.label_data) // 2])

    def _rate_for(self, request: LabelRequest) -> Rate:
        _refuse_invalid(request.to_address)
        rates = {r.service_code: r for r in self._quote(_as_rate_request(request))}
        rate = rates.get(request.service_code)
        if rate is None:
            raise Rejected(
                f"service {request.service_code!r} does not serve this route",
                code="invalid_service",
                http_status=400,
            )
        return rate

    def carrier_retrieve_label(self, lookup: LabelLookup) -> Label | None:
        def find() -> Label | None:
            sold = SandboxLabel.objects.filter(
                account=self.account, idempotency_key=lookup.idempotency_key
            ).first()
            return None if sold is None else self._served(_label_of(sold, None))

        return self.sandbox_call("retrieve_label", find)

    def carrier_void_label(self, request: VoidRequest) -> VoidResult:
        return self.sandbox_call(
            "void_label",
            lambda: self._void(request.carrier_shipment_id),
            idempotency_key=request.idempotency_key,
        )

    def _void(self, number: str) -> VoidResult:
        info = self._history(number)
        if info.status != TrackingStatus.PRE_TRANSIT:
            return VoidResult(voided=False, detail="the parcel is already in transit")
        SandboxLabel.objects.filter(
            account=self.account, tracking_number=number
        ).update(voided=True)
        return VoidResult(voided=True)

    # --- Tracking -----------------------------------------------------------

    def carrier_track(self, request: TrackRequest) -> TrackingInfo:
        return self.sandbox_call(
            "track", lambda: self._history(request.tracking_number)
        )

    def _history(self, number: str) -> TrackingInfo:
        info = sandbox_rules.history(
            number,
            now=timezone.now(),
            step_seconds=int(self.setting("tracking_step_seconds") or 600),
            location=_LOCATION,
        )
        if info is None:
            raise Rejected(
                "no shipment with this tracking number",
                code="not_found",
                http_status=404,
            )
        return info

    def announce_tracking(self, *, limit: int = 500) -> int:
        """Post one signed tracking webhook per label whose parcel has a scan
        not yet announced; returns how many will go. Each label's count is
        claimed by a conditional update, so two workers never post one scan
        twice. Nothing while deliveries are off or the carrier is down."""
        if self.setting("outage") or not self.webhooks_deliverable():
            return 0
        labels = SandboxLabel.objects.filter(
            account=self.account,
            voided=False,
            announced_events__lt=sandbox_rules.MAX_EVENTS,
        ).order_by("pk")[:limit]
        posted = 0
        for label in labels:
            info = sandbox_rules.history(
                label.tracking_number,
                now=timezone.now(),
                step_seconds=int(self.setting("tracking_step_seconds") or 600),
                location=_LOCATION,
            )
            # None: a number stamped ahead of this clock; its turn comes.
            if info is None or len(info.events) <= label.announced_events:
                continue
            with transaction.atomic():
                claimed = SandboxLabel.objects.filter(
                    pk=label.pk, announced_events=label.announced_events
                ).update(announced_events=len(info.events))
                if claimed:
                    data = {
                        "tracking_number": label.tracking_number,
                        "status": info.status.value,
                    }
                    self.deliver_webhook(TRACKING_EVENT, data)
                    posted += 1
        return posted

    def webhooks_deliverable(self) -> bool:
        return bool(settings.SANDBOX_WEBHOOK_BASE_URL) and (
            self.account.credential_is_set("webhook_secret")
        )

    def parse_tracking_update(self, message: WebhookMessage) -> TrackingInfo | None:
        """A sandbox tracking webhook: ``data.tracking_number``; the history
        is the number's (the sandbox keeps none of its own)."""
        if not message.event_type.startswith("shipment."):
            return None
        data = message.payload.get("data")
        number = data.get("tracking_number") if isinstance(data, dict) else None
        if not isinstance(number, str):
            return None
        return sandbox_rules.history(
            number,
            now=timezone.now(),
            step_seconds=int(self.setting("tracking_step_seconds") or 600),
            location=_LOCATION,
        )

    # --- Pickups and addresses -------------------------------------------

    def carrier_schedule_pickup(self, request: PickupRequest) -> Pickup:
        def book() -> Pickup:
            _refuse_invalid(request.address)
            digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()
            return Pickup(
                confirmation_number=f"PU{digest[:10].upper()}",
                pickup_date=request.pickup_date,
                ready_time=request.ready_time,
                close_time=request.close_time,
            )

        return self.sandbox_call(
            "schedule_pickup", book, idempotency_key=request.idempotency_key
        )

    def carrier_cancel_pickup(self, request: PickupCancellation) -> None:
        def cancel() -> None:
            if not request.confirmation_number.startswith("PU"):
                raise Rejected(
                    "no pickup with this confirmation number",
                    code="not_found",
                    http_status=404,
                )

        self.cancel_going_out(request)
        self.sandbox_call("cancel_pickup", cancel)

    def carrier_validate_address(self, address: Address) -> AddressValidation:
        return self.sandbox_call("validate_address", lambda: _standardise(address))


def _refuse_invalid(address: Address) -> None:
    if address.postal_code == sandbox_rules.INVALID_POSTCODE:
        raise Rejected(
            "the carrier cannot deliver to this address",
            code="address_invalid",
            http_status=400,
            provider_code="SBX_ADDRESS",
        )


def _standardise(address: Address) -> AddressValidation:
    if address.postal_code == sandbox_rules.INVALID_POSTCODE:
        return AddressValidation(valid=False, messages=("Postcode does not exist.",))
    standard = Address(
        name=address.name,
        street_lines=tuple(line.strip().upper() for line in address.street_lines),
        city=address.city.strip().upper(),
        postal_code=address.postal_code.strip().upper(),
        country_code=address.country_code,
        state_code=address.state_code.upper(),
        company=address.company,
        phone=address.phone,
        email=address.email,
        residential=not address.company,
    )
    return AddressValidation(
        valid=True, address=standard, residential=standard.residential
    )


def _label_of(sold: SandboxLabel, request: LabelRequest | None) -> Label:
    """The label as sold; its file is drawn again (same content but the
    print time) rather than stored twice."""
    label_format = LabelFormat(sold.label_format)
    lines = [sold.service_code, f"Tracking {sold.tracking_number}", sold.reference]
    data = (
        _label_file(request, sold.tracking_number, sold.service_code)
        if request is not None
        else _plain_file(label_format, sold.tracking_number, lines)
    )
    return Label(
        status=LabelStatus.CREATED,
        carrier_shipment_id=sold.tracking_number,
        tracking_number=sold.tracking_number,
        label_data=data,
        label_format=label_format,
        parcel_tracking_numbers=(sold.tracking_number,),
        amount=sold.amount,
        currency=sold.currency,
        service_code=sold.service_code,
    )


def _plain_file(label_format: LabelFormat, number: str, lines: list[str]) -> bytes:
    if label_format == LabelFormat.ZPL:
        return sandbox_documents.label_zpl(number, lines)
    return sandbox_documents.label_pdf(lines)


def _as_rate_request(request: LabelRequest) -> RateRequest:
    return RateRequest(
        from_address=request.from_address,
        to_address=request.to_address,
        parcels=request.parcels,
        customs=request.customs,
        ship_date=request.ship_date,
    )


def _label_file(request: LabelRequest, number: str, service_name: str) -> bytes:
    to = request.to_address
    lines = [
        service_name,
        f"Tracking {number}",
        f"Ref {request.reference}",
        "SHIP TO:",
        to.name,
        *to.street_lines,
        f"{to.postal_code} {to.city} {to.country_code}",
        f"FROM: {request.from_address.name}",
        f"Printed {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC",
    ]
    return _plain_file(request.label_format, number, lines)
