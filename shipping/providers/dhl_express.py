"""DHL Express MyDHL API (REST) as JSON over HTTP on the shared client: HTTP
Basic, the required ``x-version`` header and a message reference per call;
rates, shipments (labels as base64 documents, customs for dutiable parcels),
tracking, pickups and address validation. No void: MyDHL has no call to
cancel a shipment (only a pickup, ``DELETE /pickups/{number}``), so
``supports("void_label")`` is False and a void is refused before any call;
DHL bills a label only once it picks the parcel up. Wire shapes follow
karrio's MyDHL samples (provider-specs/dhl_express/karrio-samples)."""

import base64
import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from email.utils import formatdate
from typing import Any, ClassVar

import requests
from django.utils import timezone

from integrations.errors import ConfigurationError, ProviderError, Unknown
from integrations.providers.base import ConfigField, HealthResult
from integrations.providers.http import HttpAdapter, path_segment
from shipping.providers.base import (
    Address,
    AddressValidation,
    CarrierLimits,
    Customs,
    Label,
    LabelFormat,
    LabelRequest,
    LabelStatus,
    Parcel,
    Pickup,
    PickupCancellation,
    PickupRequest,
    Rate,
    RateRequest,
    ShippingAdapter,
)
from shipping.providers.carrier_common import (
    decimal_text,
    decode_label,
    read_date,
    tracking_info,
)
from shipping.providers.dhl_express_errors import (
    EXPORT_REASONS,
    SHIPMENT_STATUSES,
    checkpoint,
    dhl_error_map,
    pickup_cancel_error_map,
)
from shipping.providers.field_limits import (
    DHL_EXPRESS_FIELDS,
    DHL_EXPRESS_PICKUP_FIELDS,
    dhl_express_address,
)
from shipping.providers.tracking_types import TrackingInfo, TrackRequest
from shipping.units import DimensionUnit, WeightUnit, convert_weight

API_VERSION = "3.1.1"  # the MyDHL API release whose fields we send
ENCODINGS: Mapping[LabelFormat, str] = {LabelFormat.PDF: "pdf", LabelFormat.ZPL: "zpl"}
# totalPrice / shipmentCharges entry in the account's billing currency.
BILLING_CURRENCY = "BILLC"


class DHLExpressAdapter(HttpAdapter, ShippingAdapter):
    code = "dhl_express"
    display_name = "DHL Express"
    exact_json_numbers = True  # the schema wants JSON numbers for money
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("api_key", "API key", help_text="MyDHL API username."),
        ConfigField("api_secret", "API secret", help_text="MyDHL API password."),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("account_number", "Shipper account number"),
    )
    base_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://express.api.dhl.com/mydhlapi/test",
        "live": "https://express.api.dhl.com/mydhlapi",
    }
    # MyDHL takes no idempotency key: a shipment is never resent blind.
    idempotency_header = None
    # 70 kg and 300 cm per piece (heavier or longer is freight).
    limits = CarrierLimits(
        max_weight_kg=Decimal("70"),
        max_length_cm=Decimal("300"),
        fields=DHL_EXPRESS_FIELDS,
        pickup_fields=DHL_EXPRESS_PICKUP_FIELDS,
    )
    label_formats = (LabelFormat.PDF, LabelFormat.ZPL)

    def auth_headers(self) -> dict[str, str]:
        pair = f"{self.credential('api_key')}:{self.credential('api_secret')}"
        return {
            "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
            "x-version": API_VERSION,
            # A reference per request, echoed by DHL: support finds the call.
            "Message-Reference": str(uuid.uuid4()),
            "Message-Reference-Date": formatdate(usegmt=True),
        }

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return dhl_error_map(response)

    def health_check(self) -> HealthResult:
        self.send(
            "GET",
            "/address-validate",
            operation="dhl_express_health",
            params={"type": "delivery", "countryCode": "DE", "postalCode": "53113"},
        )
        return HealthResult(ok=True, detail="credentials accepted")

    def _account(self) -> list[dict[str, str]]:
        number = self.setting("account_number")
        if not number:
            raise ConfigurationError(
                "DHL Express setting 'account_number' is not set",
                code="missing_settings",
            )
        return [{"typeCode": "shipper", "number": str(number)}]

    # --- Rates -------------------------------------------------------------------

    def carrier_rates(self, request: RateRequest) -> list[Rate]:
        dutiable = request.is_international and request.customs is not None
        body: dict[str, Any] = {
            "customerDetails": {
                "shipperDetails": _flat_address(request.from_address),
                "receiverDetails": _flat_address(request.to_address),
            },
            "accounts": self._account(),
            "plannedShippingDateAndTime": _planned(request.ship_date),
            "unitOfMeasurement": "metric",
            "isCustomsDeclarable": dutiable,
            "packages": [_package(p) for p in request.parcels],
        }
        if dutiable and request.customs:
            currency = request.customs.items[0].currency
            body["monetaryAmount"] = [
                {
                    "typeCode": "declaredValue",
                    "value": self._value(request.customs.total_value, currency),
                    "currency": currency,
                }
            ]
        data = self.send("POST", "/rates", operation="dhl_express_rates", json=body)
        return self.keep_priced(data.get("products") or [], self._rate)

    def _rate(self, product: Mapping[str, Any]) -> Rate | None:
        prices = [p for p in product.get("totalPrice") or [] if p.get("priceCurrency")]
        price = next(
            (p for p in prices if p.get("currencyType") == BILLING_CURRENCY),
            prices[0] if prices else None,
        )
        code = str(product.get("productCode") or "")
        if price is None or not code:
            return None
        currency = str(price["priceCurrency"])
        amount = self.rate_price(price.get("price"), currency)
        if amount is None:
            return None
        delivery = product.get("deliveryCapabilities") or {}
        days = delivery.get("totalTransitDays")
        return Rate(
            carrier="DHL Express",
            service_code=code,
            service_name=str(product.get("productName") or code).title(),
            amount=amount,
            currency=currency,
            estimated_delivery=read_date(delivery.get("estimatedDeliveryDateAndTime")),
            transit_days=days if isinstance(days, int) and days >= 0 else None,
        )

    def _value(self, amount: int, currency: str) -> Decimal:
        # MyDHL's schema wants JSON numbers: exact_json_numbers writes this one
        # digit for digit ("19.99"), never through a float.
        return Decimal(self.to_provider_decimal(amount, currency))

    # --- Shipments -----------------------------------------------------------------

    def carrier_create_label(self, request: LabelRequest) -> Label:
        body = {
            "plannedShippingDateAndTime": _planned(request.ship_date),
            "pickup": {"isRequested": False},
            "productCode": request.service_code,
            "accounts": self._account(),
            "outputImageProperties": {
                "encodingFormat": ENCODINGS[request.label_format],
                "imageOptions": [{"typeCode": "label", "isRequested": True}],
            },
            "customerDetails": {
                "shipperDetails": _party(request.from_address),
                "receiverDetails": _party(request.to_address),
            },
            "content": self._content(request),
        }
        data = self.send(
            "POST", "/shipments", operation="dhl_express_create_label", json=body
        )
        return self._label(data, request.label_format)

    def _content(self, request: LabelRequest) -> dict[str, Any]:
        customs = request.customs if request.is_international else None
        content: dict[str, Any] = {
            "packages": [
                {**_package(p), "customerReferences": [_reference(request.reference)]}
                for p in request.parcels
            ],
            "isCustomsDeclarable": customs is not None,
            "description": request.reference[:70],
            "incoterm": customs.incoterm if customs else "DAP",
            "unitOfMeasurement": "metric",
        }
        if customs is not None:
            currency = customs.items[0].currency
            content["declaredValue"] = self._value(customs.total_value, currency)
            content["declaredValueCurrency"] = currency
            content["exportDeclaration"] = self._declaration(customs, request.reference)
        return content

    def _declaration(self, customs: Customs, reference: str) -> dict[str, Any]:
        lines = [
            {
                "number": number,
                "description": item.description,  # checked: DHL_EXPRESS_FIELDS
                "price": self._value(item.value, item.currency),
                "quantity": {"value": item.quantity, "unitOfMeasurement": "PCS"},
                "commodityCodes": [{"typeCode": "outbound", "value": item.hs_code}]
                if item.hs_code
                else [],
                "exportReasonType": EXPORT_REASONS[customs.contents_type],
                "manufacturerCountry": item.origin_country,
                "weight": {
                    "netValue": _kg(item.weight * item.quantity, item.weight_unit),
                    "grossValue": _kg(item.weight * item.quantity, item.weight_unit),
                },
            }
            for number, item in enumerate(customs.items, start=1)
        ]
        return {
            "lineItems": lines,
            "invoice": {
                "number": reference[:35],
                "date": timezone.localdate().isoformat(),
            },
            "exportReason": customs.contents_type.value,
        }

    def _label(self, data: Mapping[str, Any], label_format: LabelFormat) -> Label:
        number = str(data.get("shipmentTrackingNumber") or "")
        documents = [d for d in data.get("documents") or [] if isinstance(d, Mapping)]
        label = next((d for d in documents if d.get("typeCode") == "label"), None)
        if not number or label is None:
            raise Unknown("DHL answered without a label", code="malformed_response")
        charges = data.get("shipmentCharges") or []
        charge = next(
            (c for c in charges if c.get("currencyType") == BILLING_CURRENCY), {}
        )
        currency = str(charge.get("priceCurrency") or "")
        return Label(
            status=LabelStatus.CREATED,
            carrier_shipment_id=number,
            tracking_number=number,
            label_data=decode_label(label.get("content"), carrier="DHL Express"),
            label_format=label_format,
            parcel_tracking_numbers=tuple(
                str(p.get("trackingNumber"))
                for p in data.get("packages") or []
                if p.get("trackingNumber")
            ),
            amount=self.billed_amount(charge.get("price"), currency)
            if len(currency) == 3
            else None,
            currency=currency,
        )

    # --- Tracking ------------------------------------------------------------------

    def carrier_track(self, request: TrackRequest) -> TrackingInfo:
        data = self.send(
            "GET",
            "/tracking",
            operation="dhl_express_track",
            params={
                "shipmentTrackingNumber": request.tracking_number,
                "trackingView": "all-checkpoints",
                "levelOfDetail": "all",
            },
        )
        shipments = data.get("shipments") or []
        if not shipments:
            raise Unknown("DHL answered without a shipment", code="malformed_response")
        shipment = shipments[0]
        events = [checkpoint(e) for e in shipment.get("events") or []]
        found = [event for event in events if event is not None]
        signed = next(
            (
                str(e["signedBy"])
                for e in shipment.get("events") or []
                if e.get("signedBy")
            ),
            "",
        )
        return tracking_info(
            request.tracking_number,
            found,
            newest_first=True,
            estimated_delivery=read_date(shipment.get("estimatedTimeOfDelivery")),
            signed_by=signed,
            status=SHIPMENT_STATUSES.get(str(shipment.get("status"))),
        )

    # --- Pickups and addresses ---------------------------------------------------

    def carrier_schedule_pickup(self, request: PickupRequest) -> Pickup:
        each = _kg(request.total_weight / request.parcel_count, request.weight_unit)
        body = {
            "plannedPickupDateAndTime": _planned(
                request.pickup_date, request.ready_time
            ),
            "closeTime": f"{request.close_time:%H:%M}",
            "location": "reception",
            "locationType": "business"
            if not request.address.residential
            else "residence",
            "accounts": self._account(),
            "specialInstructions": [{"value": request.instructions}]  # checked
            if request.instructions
            else [],
            "customerDetails": {"shipperDetails": _party(request.address)},
            "shipmentDetails": [
                {
                    "productCode": request.service_code or "P",
                    "isCustomsDeclarable": False,
                    "unitOfMeasurement": "metric",
                    "packages": [{"weight": each}] * request.parcel_count,
                }
            ],
        }
        data = self.send(
            "POST", "/pickups", operation="dhl_express_schedule_pickup", json=body
        )
        numbers = data.get("dispatchConfirmationNumbers") or []
        if not numbers:
            raise Unknown(
                "DHL answered without a confirmation", code="malformed_response"
            )
        return Pickup(
            confirmation_number=str(numbers[0]),
            pickup_date=read_date(data.get("nextPickupDate")) or request.pickup_date,
            ready_time=request.ready_time,
            close_time=request.close_time,
        )

    def carrier_cancel_pickup(self, request: PickupCancellation) -> None:
        self.cancel_going_out(request)
        self.send(
            "DELETE",
            f"/pickups/{path_segment(request.confirmation_number)}",
            operation="dhl_express_cancel_pickup",
            # MyDHL bounds requestorName by no length: the name goes whole.
            params={"requestorName": request.address.name, "reason": "001"},
            idempotency_key=request.idempotency_key or None,
            error_map=pickup_cancel_error_map,
            allow_empty=True,
        )

    def carrier_validate_address(self, address: Address) -> AddressValidation:
        params = {
            "type": "delivery",
            "countryCode": address.country_code,
            "postalCode": address.postal_code,
            "cityName": address.city,
            "strictValidation": "true",
        }
        data = self.send(
            "GET",
            "/address-validate",
            operation="dhl_express_validate_address",
            params=params,
        )
        found = [a for a in data.get("address") or [] if isinstance(a, Mapping)]
        return AddressValidation(
            valid=bool(found),
            address=_validated(found[0], address) if found else None,
            messages=tuple(str(w) for w in data.get("warnings") or []),
        )


# --- Wire shapes ------------------------------------------------------------------


def _planned(day: date | None, at: Any = None) -> str:
    # MyDHL's own format: local time with a "GMT+hh:mm" suffix.
    when = day or timezone.localdate()
    clock = f"{at:%H:%M:%S}" if at is not None else "12:00:00"
    return f"{when.isoformat()}T{clock} GMT+00:00"


def _kg(weight: Decimal, unit: str) -> Decimal:
    return Decimal(decimal_text(convert_weight(weight, unit, WeightUnit.KG), 3))


def _flat_address(address: Address) -> dict[str, Any]:
    address = dhl_express_address(address)  # as DHL_EXPRESS_FIELDS checked it
    lines = [line for line in address.street_lines if line]
    wire: dict[str, Any] = {
        "postalCode": address.postal_code,
        "cityName": address.city,
        "countryCode": address.country_code,
    }
    # Whole: lines and their lengths are checked (DHL_EXPRESS_FIELDS), never cut.
    for number, line in enumerate(lines, start=1):
        wire[f"addressLine{number}"] = line
    if address.state_code:
        wire["provinceCode"] = address.state_code
    return wire


def _party(address: Address) -> dict[str, Any]:
    contact = {
        "fullName": address.name,
        "companyName": address.company or address.name,
        "phone": address.phone,
        "email": address.email,
    }
    return {
        "postalAddress": _flat_address(address),
        "contactInformation": {k: v for k, v in contact.items() if v},
    }


def _package(parcel: Parcel) -> dict[str, Any]:
    package: dict[str, Any] = {"weight": _kg(parcel.weight, parcel.weight_unit)}
    sides = parcel.dimensions_in(DimensionUnit.CM)
    if sides:
        length, width, height = (int(decimal_text(side, 0)) for side in sides)
        package["dimensions"] = {"length": length, "width": width, "height": height}
    return package


def _reference(reference: str) -> dict[str, str]:
    return {"value": reference[:35], "typeCode": "CU"}


def _validated(found: Mapping[str, Any], given: Address) -> Address:
    return Address(
        name=given.name,
        company=given.company,
        phone=given.phone,
        email=given.email,
        street_lines=given.street_lines,
        city=str(found.get("cityName") or given.city),
        state_code=given.state_code,
        postal_code=str(found.get("postalCode") or given.postal_code),
        country_code=str(found.get("countryCode") or given.country_code),
    )


__all__ = ["DHLExpressAdapter"]
