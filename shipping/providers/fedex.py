"""FedEx REST APIs (Rate, Ship, Track, Pickup, Address Validation) as JSON over
HTTP on the shared client, with client-credentials tokens from
``integrations.oauth``. Wire shapes follow karrio's FedEx samples
(provider-specs/fedex/karrio-samples); notes in docs/providers/shipping.md."""

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

import requests

from integrations.errors import ConfigurationError, ProviderError, Rejected, Unknown
from integrations.oauth import BearerTokenAuth, ClientCredentials
from integrations.providers.base import ConfigField, HealthResult
from integrations.providers.http import HttpAdapter
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
    ParcelLabel,
    Pickup,
    PickupCancellation,
    PickupRequest,
    Rate,
    RateRequest,
    ShippingAdapter,
    VoidRequest,
    VoidResult,
)
from shipping.providers.carrier_common import (
    decimal_text,
    decode_label,
    read_date,
    to_status,
    tracking_info,
)
from shipping.providers.fedex_address import fedex_address, fedex_pickup_address
from shipping.providers.fedex_errors import (
    LABEL_SPECS,
    SHIPMENT_PURPOSES,
    TRACKING_STATUS,
    TRANSIT_DAYS,
    VOIDED_CODES,
    actual_rate,
    fedex_error_map,
    pick_rated_variant,
    scan_event,
    track_error_map,
    track_result,
)
from shipping.providers.field_limits import FEDEX_FIELDS, FEDEX_PICKUP_FIELDS
from shipping.providers.phones import phone_extension
from shipping.providers.tracking_types import TrackingInfo, TrackRequest
from shipping.units import DimensionUnit, WeightUnit, convert_weight

OAUTH_PATH = "/oauth/token"


class FedExAdapter(BearerTokenAuth, HttpAdapter, ShippingAdapter):
    code = "fedex"
    display_name = "FedEx"
    exact_json_numbers = True  # the schema wants JSON numbers for money
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("client_id", "API key", help_text="The project's API key."),
        ConfigField("client_secret", "Secret key"),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("account_number", "Account number", help_text="9 digits."),
        ConfigField(
            "rate_type",
            "Price to quote",
            type="choice",
            required=False,
            choices=(("account", "Account (negotiated)"), ("list", "List")),
            default="account",
            help_text="FedEx answers both; the other is the fallback.",
        ),
    )
    base_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://apis-sandbox.fedex.com",
        "live": "https://apis.fedex.com",
    }
    # FedEx takes no idempotency key: a ship call is never resent blind.
    idempotency_header = None
    default_headers: ClassVar[Mapping[str, str]] = {
        "Accept": "application/json",
        "X-locale": "en_US",
    }
    # 150 lb and 108 in per package (FedEx Express and Ground).
    limits = CarrierLimits(
        max_weight_kg=Decimal("68"),
        max_length_cm=Decimal("274"),
        fields=FEDEX_FIELDS,
        pickup_fields=FEDEX_PICKUP_FIELDS,
    )
    label_formats = (LabelFormat.PDF, LabelFormat.ZPL, LabelFormat.PNG)

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return fedex_error_map(response)

    def oauth_credentials(self) -> ClientCredentials:
        return ClientCredentials(
            token_url=self.base_url + OAUTH_PATH,
            client_id=self.credential("client_id"),
            client_secret=self.credential("client_secret"),
            send_as="body",  # FedEx reads them from the form
        )

    def health_check(self) -> HealthResult:
        # A fresh token proves the credentials work; a cached one proves nothing.
        self.oauth_tokens().fetch()
        return HealthResult(ok=True, detail="OAuth token obtained")

    def _account(self) -> dict[str, str]:
        number = self.setting("account_number")
        if not number:
            raise ConfigurationError(
                "FedEx setting 'account_number' is not set",
                code="missing_settings",
            )
        return {"value": str(number)}

    # --- Rates -------------------------------------------------------------------

    def carrier_rates(self, request: RateRequest) -> list[Rate]:
        shipment: dict[str, Any] = {
            # As FedEx takes them (fedex_address), as FEDEX_FIELDS checked them.
            "shipper": {"address": _address(fedex_address(request.from_address))},
            "recipient": {"address": _address(fedex_address(request.to_address))},
            "pickupType": "DROPOFF_AT_FEDEX_LOCATION",
            "packagingType": "YOUR_PACKAGING",
            "rateRequestType": ["ACCOUNT", "LIST"],
            "requestedPackageLineItems": [_package(p) for p in request.parcels],
            "totalPackageCount": len(request.parcels),
        }
        if request.ship_date:
            shipment["shipDateStamp"] = request.ship_date.isoformat()
        if request.currency:
            shipment["preferredCurrency"] = request.currency
        if request.is_international and request.customs:
            customs = self._customs(request.customs)
            # The Rate API takes commodities only; the total is the Ship API's.
            customs.pop("totalCustomsValue")
            shipment["customsClearanceDetail"] = customs
        if len(request.service_codes) == 1:
            shipment["serviceType"] = request.service_codes[0]
        body = {
            "accountNumber": self._account(),
            "rateRequestControlParameters": {"returnTransitTimes": True},
            "requestedShipment": shipment,
        }
        data = self.send(
            "POST", "/rate/v1/rates/quotes", operation="fedex_rates", json=body
        )
        details = (data.get("output") or {}).get("rateReplyDetails") or []
        prefer_list = self.setting("rate_type") == "list"
        return self.keep_priced(
            details, lambda detail: self._rate(detail, prefer_list=prefer_list)
        )

    def _rate(self, detail: Mapping[str, Any], *, prefer_list: bool) -> Rate | None:
        rated = pick_rated_variant(
            detail.get("ratedShipmentDetails") or [], prefer_list=prefer_list
        )
        if rated is None:
            return None
        currency = str(rated.get("currency") or "")
        if len(currency) != 3:
            return None
        amount = self.rate_price(rated.get("totalNetCharge"), currency)
        if amount is None:
            return None
        operational = detail.get("operationalDetail") or {}
        commit = (detail.get("commit") or {}).get("dateDetail") or {}
        delivery = read_date(operational.get("deliveryDate")) or read_date(
            commit.get("dayFormat")
        )
        return Rate(
            carrier="FedEx",
            service_code=str(detail.get("serviceType") or ""),
            service_name=str(detail.get("serviceName") or detail.get("serviceType")),
            amount=amount,
            currency=currency,
            estimated_delivery=delivery,
            transit_days=TRANSIT_DAYS.get(str(operational.get("transitTime"))),
            extra={"rate_type": str(rated.get("rateType") or "")},
        )

    def _customs(self, customs: Customs) -> dict[str, Any]:
        currency = customs.items[0].currency
        commodities = [
            {
                "description": item.description,  # checked: FEDEX_FIELDS
                "quantity": item.quantity,
                "quantityUnits": "PCS",
                "numberOfPieces": item.quantity,
                "countryOfManufacture": item.origin_country,
                "harmonizedCode": item.hs_code or None,
                "weight": {
                    "units": "LB",
                    "value": Decimal(
                        decimal_text(
                            convert(item.weight, item.weight_unit) * item.quantity
                        )
                    ),
                },
                "unitPrice": self._money(item.value, item.currency),
                "customsValue": self._money(item.value * item.quantity, currency),
            }
            for item in customs.items
        ]
        return {
            "dutiesPayment": {
                "paymentType": "SENDER" if customs.incoterm == "DDP" else "RECIPIENT"
            },
            "commercialInvoice": {
                "shipmentPurpose": SHIPMENT_PURPOSES[customs.contents_type]
            },
            "totalCustomsValue": self._money(customs.total_value, currency),
            "commodities": [
                {k: v for k, v in c.items() if v is not None} for c in commodities
            ],
        }

    def _money(self, amount: int, currency: str) -> dict[str, Any]:
        return {
            # A JSON number as FedEx documents, written exactly (exact_json_numbers).
            "amount": Decimal(self.to_provider_decimal(amount, currency)),
            "currency": currency,
        }

    # --- Labels ------------------------------------------------------------------

    def carrier_create_label(self, request: LabelRequest) -> Label:
        image_type, stock = LABEL_SPECS[request.label_format]
        shipment: dict[str, Any] = {
            "shipper": _party(request.from_address, fedex_address),
            "recipients": [_party(request.to_address, fedex_address)],
            "serviceType": request.service_code,
            "packagingType": "YOUR_PACKAGING",
            "pickupType": "DROPOFF_AT_FEDEX_LOCATION",
            "shippingChargesPayment": {"paymentType": "SENDER"},
            "labelSpecification": {"imageType": image_type, "labelStockType": stock},
            "requestedPackageLineItems": [
                {**_package(p), "customerReferences": _reference(request.reference)}
                for p in request.parcels
            ],
            "totalPackageCount": len(request.parcels),
        }
        if request.ship_date:
            shipment["shipDatestamp"] = request.ship_date.isoformat()
        if request.is_international and request.customs:
            shipment["customsClearanceDetail"] = self._customs(request.customs)
        body = {
            "accountNumber": self._account(),
            "labelResponseOptions": "LABEL",
            "requestedShipment": shipment,
        }
        data = self.send(
            "POST",
            "/ship/v1/shipments",
            operation="fedex_create_label",
            json=body,
            # FedEx echoes it back: the call log and FedEx support share an id.
            headers={"x-customer-transaction-id": request.idempotency_key[:40]},
        )
        return self._label(data, request.label_format)

    def _label(self, data: Mapping[str, Any], label_format: LabelFormat) -> Label:
        shipments = (data.get("output") or {}).get("transactionShipments") or []
        if not shipments:
            raise Unknown(
                "FedEx answered without a shipment", code="malformed_response"
            )
        shipment = shipments[0]
        pieces = sorted(
            (p for p in shipment.get("pieceResponses") or [] if isinstance(p, dict)),
            key=lambda p: p.get("packageSequenceNumber") or 0,
        )
        numbers = tuple(
            str(p["trackingNumber"]) for p in pieces if p.get("trackingNumber")
        )
        master = str(
            shipment.get("masterTrackingNumber") or (numbers[0] if numbers else "")
        )
        # One label per piece; the master's (first) is the shipment's own.
        parcels = tuple(_parcel_label(p) for p in pieces)
        rating = (shipment.get("completedShipmentDetail") or {}).get(
            "shipmentRating"
        ) or {}
        charge = actual_rate(rating)
        currency = str(charge.get("currency") or "")
        return Label(
            status=LabelStatus.CREATED,
            carrier_shipment_id=master,
            tracking_number=master,
            label_data=decode_label(
                _piece_label(pieces[0]) if pieces else None, carrier="FedEx"
            ),
            label_format=label_format,
            parcel_tracking_numbers=numbers,
            parcel_labels=parcels if len(parcels) > 1 else (),
            amount=self.billed_amount(charge.get("totalNetCharge"), currency)
            if currency
            else None,
            currency=currency,
            service_code=str(shipment.get("serviceType") or ""),
        )

    def carrier_void_label(self, request: VoidRequest) -> VoidResult:
        body = {
            "accountNumber": self._account(),
            "trackingNumber": request.tracking_number or request.carrier_shipment_id,
            "deletionControl": "DELETE_ALL_PACKAGES",
        }
        try:
            data = self.send(
                "PUT",
                "/ship/v1/shipments/cancel",
                operation="fedex_void_label",
                json=body,
            )
        except Rejected as error:
            # FedEx refuses a cancel it cannot do (tendered, past the window)
            # with a 4xx: not voided, in FedEx's words.
            return VoidResult(voided=False, detail=error.message)
        output = data.get("output") or {}
        if output.get("cancelledShipment") is True:
            return VoidResult(voided=True)
        return VoidResult(voided=False, detail=_alerts(output) or "not cancelled")

    # --- Tracking ------------------------------------------------------------------

    def carrier_track(self, request: TrackRequest) -> TrackingInfo:
        body = {
            "includeDetailedScans": True,
            "trackingInfo": [
                {"trackingNumberInfo": {"trackingNumber": request.tracking_number}}
            ],
        }
        data = self.send(
            "POST",
            "/track/v1/trackingnumbers",
            operation="fedex_track",
            json=body,
            error_map=track_error_map,
        )
        result = track_result(data)
        scans = [scan_event(scan) for scan in result.get("scanEvents") or []]
        events = [event for event in scans if event is not None]
        detail = result.get("latestStatusDetail")
        # An object by FedEx's spec; anything else says no status (its scans
        # still count).
        detail = detail if isinstance(detail, Mapping) else {}
        latest = detail.get("code") or detail.get("derivedCode")  # as scan_event
        dates = {
            str(d.get("type")): d.get("dateTime")
            for d in result.get("dateAndTimes") or []
        }
        return tracking_info(
            request.tracking_number,
            events,
            newest_first=True,
            estimated_delivery=read_date(dates.get("ESTIMATED_DELIVERY")),
            signed_by=str(
                (result.get("deliveryDetails") or {}).get("signedByName") or ""
            ),
            status=to_status(TRACKING_STATUS.get(str(latest))) if latest else None,
            voided=[e for e in events if e.carrier_status_code in VOIDED_CODES],
            voided_stated=str(latest) in VOIDED_CODES if latest else None,
        )

    # --- Pickups and addresses ---------------------------------------------------

    def carrier_schedule_pickup(self, request: PickupRequest) -> Pickup:
        ready = f"{request.pickup_date.isoformat()}T{request.ready_time:%H:%M:%S}"
        body = {
            "associatedAccountNumber": self._account(),
            "originDetail": {
                "pickupLocation": _pickup_party(request.address),
                "readyDateTimestamp": ready,
                "customerCloseTime": f"{request.close_time:%H:%M:%S}",
                "packageLocation": "FRONT",
            },
            "totalWeight": {
                "units": "LB",
                "value": Decimal(
                    decimal_text(convert(request.total_weight, request.weight_unit))
                ),
            },
            "packageCount": request.parcel_count,
            "carrierCode": _carrier_code(request.service_code),
            "remarks": request.instructions or None,  # checked: 60
        }
        data = self.send(
            "POST",
            "/pickup/v1/pickups",
            operation="fedex_schedule_pickup",
            json={k: v for k, v in body.items() if v is not None},
        )
        output = data.get("output") or {}
        code = str(output.get("pickupConfirmationCode") or "")
        if not code:
            raise Unknown(
                "FedEx answered without a confirmation", code="malformed_response"
            )
        return Pickup(
            confirmation_number=code,
            pickup_date=request.pickup_date,
            ready_time=request.ready_time,
            close_time=request.close_time,
            location_code=str(output.get("location") or ""),
        )

    def carrier_cancel_pickup(self, request: PickupCancellation) -> None:
        body = {
            "associatedAccountNumber": self._account(),
            "pickupConfirmationCode": request.confirmation_number,
            "carrierCode": "FDXE",
            "scheduledDate": request.pickup_date.isoformat(),
            "location": request.location_code or None,
        }
        self.cancel_going_out(request)
        self.send(
            "PUT",
            "/pickup/v1/pickups/cancel",
            operation="fedex_cancel_pickup",
            json={k: v for k, v in body.items() if v is not None},
            idempotency_key=request.idempotency_key or None,
        )

    def carrier_validate_address(self, address: Address) -> AddressValidation:
        body = {"addressesToValidate": [{"address": _address(address)}]}
        data = self.send(
            "POST",
            "/address/v1/addresses/resolve",
            operation="fedex_validate_address",
            json=body,
        )
        resolved = ((data.get("output") or {}).get("resolvedAddresses") or [{}])[0]
        attributes = resolved.get("attributes") or {}
        flag = attributes.get("DPV", attributes.get("Resolved"))
        classification = str(resolved.get("classification") or "")
        standard = _resolved_address(resolved, address)
        return AddressValidation(
            valid=str(flag).lower() == "true",
            address=standard,
            residential={"RESIDENTIAL": True, "BUSINESS": False}.get(classification),
            messages=tuple(
                str(m.get("message") or m.get("code"))
                for m in resolved.get("customerMessages") or []
                if isinstance(m, Mapping)
            ),
        )


# --- Wire shapes ------------------------------------------------------------------


def convert(value: Decimal, unit: str) -> Decimal:
    """A weight in pounds, FedEx's unit for US accounts."""
    return convert_weight(value, unit, WeightUnit.LB)


def _address(address: Address) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "streetLines": [line for line in address.street_lines if line][:3],
        "city": address.city,
        "postalCode": address.postal_code,
        "countryCode": address.country_code,
    }
    if address.state_code:
        wire["stateOrProvinceCode"] = address.state_code
    if address.residential is not None:
        wire["residential"] = address.residential
    return wire


def _pickup_party(given: Address) -> dict[str, Any]:
    # Pickup-Resource.json Contact_CreatePickup lists no emailAddress (a
    # shipment's PartyContact does): only the fields the pickup API lists.
    party = _party(given, fedex_pickup_address)
    party["contact"].pop("emailAddress", None)
    return party


def _party(given: Address, as_sent: Callable[[Address], Address]) -> dict[str, Any]:
    # As the FieldLimits checked it (as_sent); the phone's extension apart,
    # as phoneExtension (Ship and Pickup APIs: "Maximum length is 6").
    address = as_sent(given)
    contact = {
        "personName": address.name,
        "companyName": address.company or None,
        "phoneNumber": address.phone or None,
        "phoneExtension": phone_extension(given.phone) or None,
        "emailAddress": address.email or None,
    }
    return {
        "address": _address(address),
        "contact": {k: v for k, v in contact.items() if v},
    }


def _package(parcel: Parcel) -> dict[str, Any]:
    package: dict[str, Any] = {
        "weight": {
            "units": "LB",
            "value": Decimal(decimal_text(parcel.weight_in(WeightUnit.LB))),
        }
    }
    sides = parcel.dimensions_in(DimensionUnit.IN)
    if sides:
        length, width, height = (int(decimal_text(side, 0)) for side in sides)
        package["dimensions"] = {
            "length": length,
            "width": width,
            "height": height,
            "units": "IN",
        }
    return package


def _parcel_label(piece: Mapping[str, Any]) -> ParcelLabel:
    encoded = _piece_label(piece)
    return ParcelLabel(
        tracking_number=str(piece.get("trackingNumber") or ""),
        label_data=decode_label(encoded, carrier="FedEx") if encoded else b"",
    )


def _piece_label(piece: Mapping[str, Any]) -> str | None:
    """The piece's encoded label: its LABEL document, else its first."""
    documents = [d for d in piece.get("packageDocuments") or [] if isinstance(d, dict)]
    encoded = next(
        (d.get("encodedLabel") for d in documents if d.get("contentType") == "LABEL"),
        documents[0].get("encodedLabel") if documents else None,
    )
    return encoded if isinstance(encoded, str) else None


def _reference(reference: str) -> list[dict[str, str]]:
    return [{"customerReferenceType": "CUSTOMER_REFERENCE", "value": reference[:40]}]


def _carrier_code(service_code: str) -> str:
    # Ground services are booked with FedEx Ground, the rest with Express.
    return (
        "FDXG"
        if "GROUND" in service_code or service_code == "GROUND_HOME_DELIVERY"
        else "FDXE"
    )


def _alerts(output: Mapping[str, Any]) -> str:
    return "; ".join(
        str(a.get("message")) for a in output.get("alerts") or [] if a.get("message")
    )


def _resolved_address(resolved: Mapping[str, Any], given: Address) -> Address | None:
    lines = tuple(str(line) for line in resolved.get("streetLinesToken") or [])
    if not lines or not resolved.get("postalCode"):
        return None
    return Address(
        name=given.name,
        company=given.company,
        phone=given.phone,
        email=given.email,
        street_lines=lines,
        city=str(resolved.get("city") or given.city),
        state_code=str(resolved.get("stateOrProvinceCode") or ""),
        postal_code=str(resolved.get("postalCode")),
        country_code=str(resolved.get("countryCode") or given.country_code),
    )


__all__ = ["FedExAdapter", "pick_rated_variant"]
