"""UPS REST APIs (OAuth client credentials; Rating in Shop mode, Shipping,
Void, Track, Pickup, Address Validation) as JSON over HTTP on the shared
client. Wire shapes follow UPS's own OpenAPI files and karrio's samples
(provider-specs/ups); notes in docs/providers/shipping.md."""

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import requests

from integrations.errors import ConfigurationError, ProviderError, Rejected, Unknown
from integrations.oauth import BearerTokenAuth, ClientCredentials
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
    tracking_info,
)
from shipping.providers.field_limits import (
    UPS_ADDRESS_CHECK_FIELDS,
    UPS_FIELDS,
    UPS_PICKUP_FIELDS,
    UPS_RATING_FIELDS,
    UPS_SERVICE_FIELDS,
)
from shipping.providers.phones import phone_extension
from shipping.providers.tracking_types import TrackingInfo, TrackRequest
from shipping.providers.ups_address import (
    ups_address,
    ups_check_postcode,
    ups_pickup_address,
    ups_rating_address,
)
from shipping.providers.ups_errors import (
    LABEL_CODES,
    SERVICE_NAMES,
    activity_event,
    current_status,
    track_error_map,
    track_package,
    ups_error_map,
    voided_events,
    voided_stated,
)
from shipping.units import DimensionUnit, WeightUnit, convert_weight

OAUTH_PATH = "/security/v1/oauth/token"
VERSION = "v2409"  # the Rating, Shipping and Pickup API release we speak


class UPSAdapter(BearerTokenAuth, HttpAdapter, ShippingAdapter):
    code = "ups"
    display_name = "UPS"
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("client_id", "Client ID", help_text="From the UPS app."),
        ConfigField("client_secret", "Client secret"),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "account_number", "Shipper number", help_text="6-character account."
        ),
        ConfigField(
            "transaction_source",
            "Transaction source",
            required=False,
            default="switchyard",
            help_text="Sent as transactionSrc on every call.",
        ),
    )
    base_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://wwwcie.ups.com",
        "live": "https://onlinetools.ups.com",
    }
    # UPS takes no idempotency key: a ship call is never resent blind.
    idempotency_header = None
    # 150 lb and 108 in per package; the text UPS's specs publish.
    limits = CarrierLimits(
        max_weight_kg=Decimal("68"),
        max_length_cm=Decimal("274"),
        fields=UPS_FIELDS,
        rating_fields=UPS_RATING_FIELDS,
        service_fields=UPS_SERVICE_FIELDS,
        pickup_fields=UPS_PICKUP_FIELDS,
        address_fields=UPS_ADDRESS_CHECK_FIELDS,
    )
    label_formats = (LabelFormat.PNG, LabelFormat.ZPL)

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return ups_error_map(response)

    def oauth_credentials(self) -> ClientCredentials:
        # HTTP Basic, as OAuthClientCredentials.yaml's BasicAuth says.
        return ClientCredentials(
            token_url=self.base_url + OAUTH_PATH,
            client_id=self.credential("client_id"),
            client_secret=self.credential("client_secret"),
        )

    def health_check(self) -> HealthResult:
        # A fresh token proves the credentials work; a cached one proves nothing.
        self.oauth_tokens().fetch()
        return HealthResult(ok=True, detail="OAuth token obtained")

    def _shipper_number(self) -> str:
        number = self.setting("account_number")
        if not number:
            raise ConfigurationError(
                "UPS setting 'account_number' is not set", code="missing_settings"
            )
        return str(number)

    def _call(self, method: str, path: str, *, operation: str, **kwargs: Any) -> dict:
        # transId must be unique per request; transactionSrc names us.
        headers = {
            "transId": uuid.uuid4().hex,
            "transactionSrc": str(self.setting("transaction_source")),
        }
        return self.send(
            method, "/api" + path, operation=operation, headers=headers, **kwargs
        )

    # --- Rates -------------------------------------------------------------------

    def carrier_rates(self, request: RateRequest) -> list[Rate]:
        number = self._shipper_number()
        origin = _party(request.from_address, rating=True)
        shipment: dict[str, Any] = {
            "Shipper": {**origin, "ShipperNumber": number},
            "ShipTo": _party(request.to_address, rating=True),
            "ShipFrom": origin,
            "PaymentDetails": {
                "ShipmentCharge": [
                    {"Type": "01", "BillShipper": {"AccountNumber": number}}
                ]
            },
            # As a label asks (one rule): the account's prices where UPS has
            # them, else its published ones, marked so (_rate). docs/shipping.md
            "ShipmentRatingOptions": {"NegotiatedRatesIndicator": "Y"},
            "NumOfPieces": str(len(request.parcels)),
            "Package": [
                _package(parcel, packaging="PackagingType")
                for parcel in request.parcels
            ],
        }
        if request.ship_date:
            shipment["ShipmentDate"] = f"{request.ship_date:%Y%m%d}"
        if request.is_international and request.customs:
            shipment["InvoiceLineTotal"] = self._invoice_total(request.customs)
        body = {
            "RateRequest": {
                "Request": {"RequestOption": "Shop"},
                "Shipment": shipment,
            }
        }
        data = self._call(
            "POST", f"/rating/{VERSION}/Shop", operation="ups_rates", json=body
        )
        rated = (data.get("RateResponse") or {}).get("RatedShipment") or []
        rated = [rated] if isinstance(rated, Mapping) else rated
        return self.keep_priced(rated, self._rate)

    def _rate(self, rated: Mapping[str, Any]) -> Rate | None:
        negotiated = (rated.get("NegotiatedRateCharges") or {}).get("TotalCharge")
        charge = negotiated or rated.get("TotalCharges") or {}
        currency = str(charge.get("CurrencyCode") or "")
        if len(currency) != 3:
            return None
        code = str((rated.get("Service") or {}).get("Code") or "")
        amount = self.rate_price(charge.get("MonetaryValue"), currency)
        if amount is None or not code:
            return None
        days = str((rated.get("GuaranteedDelivery") or {}).get("BusinessDaysInTransit"))
        return Rate(
            carrier="UPS",
            service_code=code,
            service_name=SERVICE_NAMES.get(code, f"UPS service {code}"),
            amount=amount,
            currency=currency,
            transit_days=int(days) if days.isdigit() else None,
            estimated_delivery=read_date(rated.get("ScheduledDeliveryDate")),
            extra={"price": "negotiated" if negotiated else "published"},
        )

    def _invoice_total(self, customs: Customs) -> dict[str, str]:
        currency = customs.items[0].currency
        return {
            "CurrencyCode": currency,
            "MonetaryValue": self.to_provider_decimal(customs.total_value, currency),
        }

    # --- Labels ------------------------------------------------------------------

    def carrier_create_label(self, request: LabelRequest) -> Label:
        number = self._shipper_number()
        shipment: dict[str, Any] = {
            "Description": request.reference[:35],
            "Shipper": {
                **_party(request.from_address, rating=False),
                "ShipperNumber": number,
            },
            "ShipTo": _party(request.to_address, rating=False),
            "ShipFrom": _party(request.from_address, rating=False),
            "PaymentInformation": {
                "ShipmentCharge": {
                    "Type": "01",
                    "BillShipper": {"AccountNumber": number},
                }
            },
            "Service": {"Code": request.service_code},
            "ShipmentRatingOptions": {"NegotiatedRatesIndicator": "Y"},
            "ReferenceNumber": {"Value": request.reference[:35]},
            "Package": [_package(p, packaging="Packaging") for p in request.parcels],
        }
        if request.is_international and request.customs:
            shipment["ShipmentServiceOptions"] = {
                "InternationalForms": self._invoice(request.customs)
            }
        body = {
            "ShipmentRequest": {
                "Request": {
                    "RequestOption": "nonvalidate",
                    "TransactionReference": {"CustomerContext": request.reference},
                },
                "Shipment": shipment,
                "LabelSpecification": {
                    "LabelImageFormat": {"Code": LABEL_CODES[request.label_format]},
                    "LabelStockSize": {"Height": "6", "Width": "4"},
                },
            }
        }
        data = self._call(
            "POST",
            f"/shipments/{VERSION}/ship",
            operation="ups_create_label",
            json=body,
        )
        return self._label(data, request.label_format)

    def _invoice(self, customs: Customs) -> dict[str, Any]:
        products = [
            {
                "Description": item.description,  # checked: UPS_FIELDS
                "Unit": {
                    "Number": str(item.quantity),
                    "Value": self.to_provider_decimal(item.value, item.currency),
                    "UnitOfMeasurement": {"Code": "PCS"},
                },
                # CommodityCode minLength 6, optional on an invoice: none, not "".
                **({"CommodityCode": item.hs_code} if item.hs_code else {}),
                "OriginCountryCode": item.origin_country,
            }
            for item in customs.items
        ]
        return {
            "FormType": "01",  # commercial invoice
            "Product": products,
            "ReasonForExport": _EXPORT_REASONS[customs.contents_type],
            "TermsOfShipment": customs.incoterm,
            "CurrencyCode": customs.items[0].currency,
        }

    def _label(self, data: Mapping[str, Any], label_format: LabelFormat) -> Label:
        results = (data.get("ShipmentResponse") or {}).get("ShipmentResults") or {}
        packages = results.get("PackageResults") or []
        packages = [packages] if isinstance(packages, Mapping) else packages
        shipment_id = str(results.get("ShipmentIdentificationNumber") or "")
        if not shipment_id or not packages:
            raise Unknown("UPS answered without a shipment", code="malformed_response")
        numbers = tuple(str(p.get("TrackingNumber") or "") for p in packages)
        images = [(p.get("ShippingLabel") or {}).get("GraphicImage") for p in packages]
        # One label per package; the first is the shipment's own.
        parcels = tuple(
            ParcelLabel(
                tracking_number=number,
                label_data=decode_label(image, carrier="UPS") if image else b"",
            )
            for number, image in zip(numbers, images, strict=True)
        )
        negotiated = (results.get("NegotiatedRateCharges") or {}).get("TotalCharge")
        charge = (
            negotiated
            or (results.get("ShipmentCharges") or {}).get("TotalCharges")
            or {}
        )
        currency = str(charge.get("CurrencyCode") or "")
        return Label(
            status=LabelStatus.CREATED,
            carrier_shipment_id=shipment_id,
            tracking_number=numbers[0] or shipment_id,
            label_data=decode_label(images[0], carrier="UPS"),
            label_format=label_format,
            parcel_tracking_numbers=numbers,
            parcel_labels=parcels if len(parcels) > 1 else (),
            amount=self.billed_amount(charge.get("MonetaryValue"), currency)
            if len(currency) == 3
            else None,
            currency=currency,
        )

    def carrier_void_label(self, request: VoidRequest) -> VoidResult:
        try:
            data = self._call(
                "DELETE",
                f"/shipments/{VERSION}/void/cancel/{path_segment(request.carrier_shipment_id)}",
                operation="ups_void_label",
            )
        except Rejected as error:
            # UPS refuses a void it cannot do (picked up, past the window)
            # with a 4xx: not voided, in UPS's words.
            return VoidResult(voided=False, detail=error.message)
        status = (
            (data.get("VoidShipmentResponse") or {}).get("SummaryResult") or {}
        ).get("Status") or {}
        if str(status.get("Code")) == "1":
            return VoidResult(voided=True)
        return VoidResult(voided=False, detail=str(status.get("Description") or ""))

    # --- Tracking ------------------------------------------------------------------

    def carrier_track(self, request: TrackRequest) -> TrackingInfo:
        data = self._call(
            "GET",
            f"/track/v1/details/{path_segment(request.tracking_number)}",
            operation="ups_track",
            params={"locale": "en_US", "returnSignature": "false"},
            error_map=track_error_map,
        )
        package = track_package(data, request.tracking_number)
        events = [activity_event(a) for a in package.get("activity") or []]
        scheduled = [
            d.get("date")
            for d in package.get("deliveryDate") or []
            if d.get("type") in ("SDD", "RDD")
        ]
        return tracking_info(
            request.tracking_number,
            [event for event in events if event is not None],
            newest_first=True,
            estimated_delivery=read_date(scheduled[0]) if scheduled else None,
            status=current_status(package),
            voided=voided_events(package),
            voided_stated=voided_stated(package),
        )

    # --- Pickups and addresses ---------------------------------------------------

    def carrier_schedule_pickup(self, request: PickupRequest) -> Pickup:
        address = request.address
        weight = convert_weight(
            request.total_weight, request.weight_unit, WeightUnit.LB
        )
        body = {
            "PickupCreationRequest": {
                "RatePickupIndicator": "N",
                "Shipper": {
                    "Account": {
                        "AccountNumber": self._shipper_number(),
                        "AccountCountryCode": address.country_code,
                    }
                },
                "PickupDateInfo": {
                    "CloseTime": f"{request.close_time:%H%M}",
                    "ReadyTime": f"{request.ready_time:%H%M}",
                    "PickupDate": f"{request.pickup_date:%Y%m%d}",
                },
                "PickupAddress": _pickup_address(address),
                "AlternateAddressIndicator": "Y",
                "PickupPiece": [
                    {
                        "ServiceCode": f"0{request.service_code or '03'}"[-3:],
                        "Quantity": str(request.parcel_count),
                        "DestinationCountryCode": address.country_code,
                        "ContainerCode": "01",  # package
                    }
                ],
                "TotalWeight": {
                    "Weight": decimal_text(weight),
                    "UnitOfMeasurement": "LBS",
                },
                "OverweightIndicator": "N",
                "PaymentMethod": "01",  # the shipper's account
                "SpecialInstruction": request.instructions,  # checked: 57
            }
        }
        data = self._call(
            "POST",
            f"/pickupcreation/{VERSION}/pickup",
            operation="ups_schedule_pickup",
            json=body,
        )
        prn = str((data.get("PickupCreationResponse") or {}).get("PRN") or "")
        if not prn:
            raise Unknown("UPS answered without a PRN", code="malformed_response")
        return Pickup(
            confirmation_number=prn,
            pickup_date=request.pickup_date,
            ready_time=request.ready_time,
            close_time=request.close_time,
        )

    def carrier_cancel_pickup(self, request: PickupCancellation) -> None:
        self.cancel_going_out(request)
        self.send(
            "DELETE",
            f"/api/shipments/{VERSION}/pickup/02",  # 02: cancel by PRN
            operation="ups_cancel_pickup",
            idempotency_key=request.idempotency_key or None,
            headers={
                "transId": uuid.uuid4().hex,
                "transactionSrc": str(self.setting("transaction_source")),
                "Prn": request.confirmation_number,
            },
        )

    def carrier_validate_address(self, address: Address) -> AddressValidation:
        body = {"XAVRequest": {"AddressKeyFormat": _key_format(address)}}
        # requestoption 3: validation and residential/commercial classification.
        data = self._call(
            "POST",
            "/addressvalidation/v2/3",
            operation="ups_validate_address",
            json=body,
        )
        response = data.get("XAVResponse") or {}
        candidates = response.get("Candidate") or []
        candidates = [candidates] if isinstance(candidates, Mapping) else candidates
        found = tuple(
            _candidate(c.get("AddressKeyFormat") or {}, address) for c in candidates
        )
        kind = str((response.get("AddressClassification") or {}).get("Code") or "")
        valid = "ValidAddressIndicator" in response
        return AddressValidation(
            valid=valid,
            address=found[0] if valid and found else None,
            residential={"1": False, "2": True}.get(kind),
            candidates=found,
        )


# --- Wire shapes ------------------------------------------------------------------

_EXPORT_REASONS = {
    "merchandise": "SALE",
    "documents": "SALE",
    "gift": "GIFT",
    "sample": "SAMPLE",
    "return": "RETURN",
}


def _address(address: Address) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "AddressLine": [line for line in address.street_lines if line],
        "City": address.city,
        "PostalCode": address.postal_code,
        "CountryCode": address.country_code,
    }
    if address.state_code:
        wire["StateProvinceCode"] = address.state_code
    if address.residential:
        wire["ResidentialAddressIndicator"] = "Y"
    return wire


def _party(address: Address, *, rating: bool) -> dict[str, Any]:
    # Rating takes no phone numbers and a state of 2; Shipping wants phones.
    # Sent as UPS takes them (ups_rating_address, ups_address), the form its
    # field limits were checked on: whole.
    extension = phone_extension(address.phone)
    address = ups_rating_address(address) if rating else ups_address(address)
    party: dict[str, Any] = {
        "Name": address.company or address.name,
        "AttentionName": address.name,
        "Address": _address(address),
    }
    if not rating and address.phone:
        party["Phone"] = _phone(address.phone, extension)
    return party


def _phone(number: str, extension: str) -> dict[str, str]:
    # Phone.Extension: its own field (Shipping.yaml 4, Pickup.yaml 10).
    return (
        {"Number": number, "Extension": extension} if extension else {"Number": number}
    )


def _package(parcel: Parcel, *, packaging: str) -> dict[str, Any]:
    # Rating names the packaging "PackagingType", Shipping "Packaging".
    package: dict[str, Any] = {
        packaging: {"Code": "02"},  # customer-supplied package
        "PackageWeight": {
            "UnitOfMeasurement": {"Code": "LBS"},
            "Weight": decimal_text(parcel.weight_in(WeightUnit.LB)),
        },
    }
    sides = parcel.dimensions_in(DimensionUnit.IN)
    if sides:
        length, width, height = (decimal_text(side, 0) for side in sides)
        package["Dimensions"] = {
            "UnitOfMeasurement": {"Code": "IN"},
            "Length": length,
            "Width": width,
            "Height": height,
        }
    return package


def _pickup_address(address: Address) -> dict[str, Any]:
    # As UPS_PICKUP_FIELDS checked it (ups_pickup_address), nothing cut.
    extension = phone_extension(address.phone)
    address = ups_pickup_address(address)
    wire: dict[str, Any] = {
        "CompanyName": address.company or address.name,
        "ContactName": address.name,
        "AddressLine": address.street_lines[0],
        "City": address.city,
        "CountryCode": address.country_code,
        "ResidentialIndicator": "Y" if address.residential else "N",
        "Phone": _phone(address.phone, extension),
    }
    # Pickup.yaml StateProvince and PostalCode: minLength 1, optional where
    # not given (a Hong Kong address): left out, not sent as "".
    if address.state_code:
        wire["StateProvince"] = address.state_code
    if address.postal_code:
        wire["PostalCode"] = address.postal_code
    return wire


def _key_format(address: Address) -> dict[str, Any]:
    primary, extended = ups_check_postcode(address)  # as checked, never cut
    key = {
        "ConsigneeName": address.name,  # checked: UPS_ADDRESS_CHECK_FIELDS
        "AddressLine": [line for line in address.street_lines if line],
        "PoliticalDivision2": address.city,
        "PoliticalDivision1": address.state_code,
        "PostcodePrimaryLow": primary,
        "PostcodeExtendedLow": extended,
        "CountryCode": address.country_code,
    }
    # AddressKeyFormat: each minLength 1, only CountryCode required: one not
    # given (no state, no postcode) is left out, not sent as "".
    return {name: value for name, value in key.items() if value}


def _candidate(key: Mapping[str, Any], given: Address) -> Address:
    lines = key.get("AddressLine") or given.street_lines
    postcode = str(key.get("PostcodePrimaryLow") or given.postal_code)
    if key.get("PostcodeExtendedLow"):
        postcode = f"{postcode}-{key['PostcodeExtendedLow']}"
    return Address(
        name=given.name,
        company=given.company,
        phone=given.phone,
        email=given.email,
        street_lines=(lines,) if isinstance(lines, str) else tuple(lines),
        city=str(key.get("PoliticalDivision2") or given.city),
        state_code=str(key.get("PoliticalDivision1") or given.state_code),
        postal_code=postcode,
        country_code=str(key.get("CountryCode") or given.country_code),
    )


__all__ = ["UPSAdapter"]
