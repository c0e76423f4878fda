"""USPS v3 APIs (OAuth 2.0 client credentials; Shipping Options, Payments,
Domestic Labels, Tracking, Carrier Pickup, Addresses) on the shared client.
A label needs a payment authorization token as well as the OAuth token, and
its answer is multipart (JSON metadata plus the label). Domestic only: the
international label API is not wired yet. Wire shapes follow karrio's USPS
samples (provider-specs/usps/karrio-samples) and USPS/api-examples."""

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, ClassVar

import requests
from django.utils import timezone

from integrations.errors import (
    ConfigurationError,
    ProviderError,
    Rejected,
    Unknown,
)
from integrations.oauth import BearerTokenAuth, ClientCredentials
from integrations.providers.base import ConfigField, HealthResult
from integrations.providers.http import HttpAdapter, path_segment
from shipping.providers import usps_international as intl
from shipping.providers.base import (
    Address,
    AddressValidation,
    CarrierLimits,
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
    VoidRequest,
    VoidResult,
)
from shipping.providers.carrier_common import (
    decimal_text,
    name_parts,
    read_date,
    tracking_info,
    zip_parts,
)
from shipping.providers.field_limits import (
    USPS_ADDRESS_CHECK_FIELDS,
    USPS_FIELDS,
    USPS_PICKUP_FIELDS,
)
from shipping.providers.tracking_types import TrackingInfo, TrackRequest
from shipping.providers.usps_address import usps_address, usps_pickup_address
from shipping.providers.usps_errors import (
    ALREADY_CANCELLED,
    IMAGE_TYPES,
    STATUS_CATEGORIES,
    label_parts,
    tracking_event,
    usps_error_map,
)
from shipping.providers.usps_payment import PaymentTokenCache
from shipping.units import DimensionUnit, WeightUnit, convert_weight

OAUTH_PATH = "/oauth2/v3/token"
# A header name, not a secret.
PAYMENT_TOKEN_HEADER = "X-Payment-Authorization-Token"  # noqa: S105
# carrier_rate_id = "<mailClass>|<rateIndicator>|<processingCategory>": what
# the label must repeat to be priced as quoted.
RATE_ID_SEPARATOR = "|"
DEFAULT_RATE = ("", "SP", "MACHINABLE")


class USPSAdapter(BearerTokenAuth, HttpAdapter, ShippingAdapter):
    code = "usps"
    display_name = "USPS"
    exact_json_numbers = True  # the schema wants JSON numbers for money
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("client_id", "Consumer key"),
        ConfigField("client_secret", "Consumer secret"),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("crid", "Customer registration ID (CRID)"),
        ConfigField("mid", "Mailer ID (MID)"),
        ConfigField("account_number", "EPS account number"),
        ConfigField(
            "payment_token_seconds",
            "Payment token lifetime (s)",
            type="int",
            required=False,
            default=3600,
            min_value=60,
            help_text="How long a payment authorization is reused when the "
            "token carries no expiry of its own.",
        ),
        ConfigField(
            "price_type",
            "Prices",
            type="choice",
            required=False,
            choices=(("COMMERCIAL", "Commercial"), ("RETAIL", "Retail")),
            default="COMMERCIAL",
        ),
    )
    base_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://api-cat.usps.com",
        "live": "https://apis.usps.com",
    }
    # USPS takes no idempotency key: a label is never resent blind.
    idempotency_header = None
    # 70 lb per piece (31.7515 kg); 130 in length and girth combined. One
    # package per label (and per price): a second parcel would go unlabelled.
    limits = CarrierLimits(
        max_weight_kg=Decimal("31.752"),
        max_length_cm=Decimal("330"),
        max_parcels=1,
        fields=USPS_FIELDS,  # labels' (and so quotes') lengths
        pickup_fields=USPS_PICKUP_FIELDS,
        address_fields=USPS_ADDRESS_CHECK_FIELDS,  # and a state
    )
    label_formats = (LabelFormat.PDF, LabelFormat.ZPL)

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return usps_error_map(response)

    def oauth_credentials(self) -> ClientCredentials:
        return ClientCredentials(
            token_url=self.base_url + OAUTH_PATH,
            client_id=self.credential("client_id"),
            client_secret=self.credential("client_secret"),
            send_as="json",  # as USPS/api-examples documents the token call
        )

    def health_check(self) -> HealthResult:
        # A fresh token proves the credentials work; a cached one proves nothing.
        self.oauth_tokens().fetch()
        return HealthResult(ok=True, detail="OAuth token obtained")

    def _required(self, name: str) -> str:
        value = self.setting(name)
        if not value:
            raise ConfigurationError(
                f"USPS setting {name!r} is not set", code="missing_settings"
            )
        return str(value)

    def check_shipment(
        self,
        request: RateRequest | LabelRequest,
        *,
        quote: bool | None = None,
        service_code: str = "",
    ) -> None:
        super().check_shipment(request, quote=quote, service_code=service_code)
        # A quote its international label would refuse is refused with it.
        if request.from_address.country_code == "US" and request.is_international:
            intl.check_sendable(request)

    # --- Rates -------------------------------------------------------------------

    def carrier_rates(self, request: RateRequest) -> list[Rate]:
        if request.from_address.country_code != "US":
            return []  # USPS mails from the United States only
        if request.to_address.country_code != "US":
            return self._international_rates(request)
        parcel = request.parcels[0]
        body = {
            "pricingOptions": [
                {
                    "priceType": self.setting("price_type"),
                    "paymentAccount": {
                        "accountType": "EPS",
                        "accountNumber": self._required("account_number"),
                    },
                }
            ],
            "originZIPCode": request.from_address.postal_code[:5],
            "destinationZIPCode": request.to_address.postal_code[:5],
            "destinationEntryFacilityType": "NONE",
            "packageDescription": {
                **_package(parcel),
                "mailClass": "ALL",
                "mailingDate": (request.ship_date or timezone.localdate()).isoformat(),
            },
        }
        data = self.send(
            "POST", "/shipments/v3/options/search", operation="usps_rates", json=body
        )
        options = [
            option
            for pricing in data.get("pricingOptions") or []
            for option in pricing.get("shippingOptions") or []
        ]
        return self.keep_priced(options, self._rate)

    def _international_rates(self, request: RateRequest) -> list[Rate]:
        """One International Prices call per parcel class; a class USPS does
        not offer for this parcel or country (a 400) is left out. When USPS
        refused every class, its first refusal is the answer (a wrong account
        or postal code must not look like "no rates")."""
        answers: list[tuple[Mapping[str, Any], str]] = []
        refused: Rejected | None = None
        for mail_class in intl.MAIL_CLASSES:
            body = intl.rate_body(
                request,
                mail_class=mail_class,
                package=_package(request.parcels[0]),
                price_type=str(self.setting("price_type")),
                account_number=self._required("account_number"),
            )
            try:
                data = self.send(
                    "POST",
                    intl.RATES_PATH,
                    operation="usps_international_rates",
                    json=body,
                )
            except Rejected as error:
                refused = refused or error
                continue
            answers.append((data, mail_class))
        rates = self.keep_priced(
            answers, lambda answer: intl.read_rate(*answer, self.rate_price)
        )
        if not rates and refused is not None:
            raise refused
        return rates

    def _rate(self, option: Mapping[str, Any]) -> Rate | None:
        """One rate per mail class: its cheapest rate option."""
        # An option with an unusable price is dropped; the class keeps the rest.
        priced = self.keep_priced(option.get("rateOptions") or [], self._priced)
        if not priced:
            return None
        amount, cheapest = min(priced, key=lambda pair: pair[0])
        mail_class = str(option.get("mailClass") or "")
        first = (cheapest.get("rates") or [{}])[0]
        commitment = cheapest.get("commitment") or {}
        days = str(commitment.get("name") or "").split(" ")[0].split("-")[0]
        return Rate(
            carrier="USPS",
            service_code=mail_class,
            service_name=mail_class.replace("_", " ").title(),
            amount=amount,
            currency="USD",
            estimated_delivery=read_date(commitment.get("scheduleDeliveryDate")),
            transit_days=int(days) if days.isdigit() else None,
            carrier_rate_id=RATE_ID_SEPARATOR.join(
                (
                    mail_class,
                    str(first.get("rateIndicator") or DEFAULT_RATE[1]),
                    str(first.get("processingCategory") or DEFAULT_RATE[2]),
                )
            ),
        )

    def _priced(
        self, choice: Mapping[str, Any]
    ) -> tuple[int, Mapping[str, Any]] | None:
        amount = self.rate_price(choice.get("totalPrice"), "USD")
        return None if amount is None else (amount, choice)

    # --- Labels ------------------------------------------------------------------

    def carrier_create_label(self, request: LabelRequest) -> Label:
        # As USPS_FIELDS were checked: a state's code, a phone's digits.
        request = replace(
            request,
            from_address=usps_address(request.from_address),
            to_address=usps_address(request.to_address),
        )
        if request.is_international:
            path, operation = intl.LABEL_PATH, "usps_create_international_label"
            body = self._international_body(request)
        else:
            path, operation = "/labels/v3/label", "usps_create_label"
            body = self._domestic_body(request)
        # A 401 that a new OAuth token did not cure: a new payment token.
        response = self._payment_tokens().with_token(
            lambda payment: self.send_response(
                "POST",
                path,
                operation=operation,
                json=body,
                # curl's default: USPS answers multipart (metadata + label).
                headers={"Accept": "*/*", PAYMENT_TOKEN_HEADER: payment},
            )
        )
        metadata, image = label_parts(response)
        number = intl.tracking_number(metadata)
        if not number:
            raise Unknown("USPS sent no tracking number", code="malformed_response")
        commitment = metadata.get("commitment") or {}
        return Label(
            status=LabelStatus.CREATED,
            carrier_shipment_id=number,
            tracking_number=number,
            label_data=image,
            label_format=request.label_format,
            amount=self.billed_amount(metadata.get("postage"), "USD"),
            currency="USD",
            service_code=request.service_code,
            estimated_delivery=read_date(commitment.get("scheduleDeliveryDate")),
        )

    def _domestic_body(self, request: LabelRequest) -> dict[str, Any]:
        _, indicator, category = _rate_parts(request.carrier_rate_id)
        return {
            "imageInfo": {
                "imageType": IMAGE_TYPES[request.label_format],
                "labelType": "4X6LABEL",
                "receiptOption": "NONE",
            },
            "toAddress": _label_address(request.to_address),
            "fromAddress": _label_address(request.from_address),
            "packageDescription": {
                **_package(request.parcels[0]),
                "weightUOM": "lb",
                "dimensionsUOM": "in",
                "mailClass": request.service_code,
                "rateIndicator": indicator,
                "processingCategory": category,
                "destinationEntryFacilityType": "NONE",
                "mailingDate": (request.ship_date or timezone.localdate()).isoformat(),
                "customerReference": [{"referenceNumber": request.reference[:30]}],
            },
        }

    def _international_body(self, request: LabelRequest) -> dict[str, Any]:
        _, indicator, category = _rate_parts(
            request.carrier_rate_id, category=intl.DEFAULT_CATEGORY
        )
        package = {
            **_package(request.parcels[0]),
            "mailClass": request.service_code,
            "rateIndicator": indicator,
            "processingCategory": category,
        }
        return intl.label_body(
            request,
            image_type=IMAGE_TYPES[request.label_format],
            from_address=_label_address(request.from_address),
            package=package,
            money=self.to_provider_decimal,
            mailing_date=request.ship_date or timezone.localdate(),
        )

    def _payment_tokens(self) -> PaymentTokenCache:
        """The payment authorization token billing labels to the EPS account,
        shared by every process until shortly before it expires."""
        role = {
            "CRID": self._required("crid"),
            "MID": self._required("mid"),
            "manifestMID": self._required("mid"),
            "accountType": "EPS",
            "accountNumber": self._required("account_number"),
        }
        return PaymentTokenCache(self, role)

    def carrier_void_label(self, request: VoidRequest) -> VoidResult:
        number = request.tracking_number or request.carrier_shipment_id
        # An international label is cancelled where it was made.
        international = intl.is_international_class(request.service_code)
        path = intl.LABEL_PATH if international else "/labels/v3/label"
        try:
            data = self._payment_tokens().with_token(
                lambda payment: self.send(
                    "DELETE",
                    f"{path}/{path_segment(number)}",
                    operation="usps_void_label",
                    headers={PAYMENT_TOKEN_HEADER: payment},
                    allow_empty=True,
                )
            )
        except Rejected as error:
            # A retry after a lost answer: cancelled already is our void done.
            voided = error.code == ALREADY_CANCELLED
            return VoidResult(voided=voided, detail=error.message)
        # USPS's CancelResponse says CANCELED (the label is void) or DISPUTED
        # (a refund request, not a cancel: the label may stay valid and
        # billed; staff read it on the attempt). An answer without a status
        # does not say which: the cancel may have landed.
        status = str(data.get("status") or "")
        if not status:
            raise Unknown(
                "USPS answered the cancel without a status", code="malformed_response"
            )
        if status != "CANCELED":
            return VoidResult(
                voided=False, detail=f"USPS did not cancel the label: {status}"
            )
        return VoidResult(voided=True, detail=status.lower())

    # --- Tracking ------------------------------------------------------------------

    def carrier_track(self, request: TrackRequest) -> TrackingInfo:
        data = self.send(
            "GET",
            f"/tracking/v3/tracking/{path_segment(request.tracking_number)}",
            operation="usps_track",
            params={"expand": "DETAIL"},
        )
        events = [tracking_event(e) for e in data.get("trackingEvents") or []]
        category = str(data.get("statusCategory") or "")
        return tracking_info(
            request.tracking_number,
            [event for event in events if event is not None],
            newest_first=True,
            estimated_delivery=read_date(
                data.get("expectedDeliveryTimeStamp")
                or data.get("predictedDeliveryDate")
            ),
            status=STATUS_CATEGORIES.get(category),
        )

    # --- Pickups and addresses ---------------------------------------------------

    def carrier_schedule_pickup(self, request: PickupRequest) -> Pickup:
        address = usps_pickup_address(request.address)
        # Addressee requires both (carrier-pickup.yaml); a one-word name is
        # refused before the call (USPS_PICKUP_FIELDS.two_names).
        first, last = name_parts(address.name)
        weight = convert_weight(
            request.total_weight, request.weight_unit, WeightUnit.LB
        )
        body = {
            "pickupDate": request.pickup_date.isoformat(),
            "pickupAddress": {
                "firstName": first,
                "lastName": last,
                "firm": address.company,
                "address": _usps_address(address),
                # contact minItems 1: an email (USPS_PICKUP_FIELDS requires it).
                "contact": [{"email": address.email}],
            },
            "packages": [
                {
                    "packageType": request.service_code or "PRIORITY_MAIL",
                    "packageCount": request.parcel_count,
                }
            ],
            "estimatedWeight": int(decimal_text(weight, 0)),
            "pickupLocation": {
                "packageLocation": "FRONT_DOOR",
                # Whole: no published length for the v3 Carrier Pickup API
                # could be cited; never cut the storefront's text silently.
                "specialInstructions": request.instructions,
            },
        }
        data = self.send(
            "POST",
            "/pickup/v3/carrier-pickup",
            operation="usps_schedule_pickup",
            json=body,
        )
        number = str(data.get("confirmationNumber") or "")
        if not number:
            raise Unknown(
                "USPS answered without a confirmation", code="malformed_response"
            )
        return Pickup(
            confirmation_number=number,
            pickup_date=read_date(data.get("pickupDate")) or request.pickup_date,
        )

    def carrier_cancel_pickup(self, request: PickupCancellation) -> None:
        # USPS changes a pickup only against the ETag it last answered.
        path = f"/pickup/v3/carrier-pickup/{path_segment(request.confirmation_number)}"
        current = self.send_response("GET", path, operation="usps_get_pickup")
        self.cancel_going_out(request)
        self.send_response(
            "DELETE",
            path,
            operation="usps_cancel_pickup",
            headers={"If-Match": current.headers.get("ETag", "*")},
            idempotency_key=request.idempotency_key or None,
        )

    def carrier_validate_address(self, address: Address) -> AddressValidation:
        data = self.send(
            "GET",
            "/addresses/v3/address",
            operation="usps_validate_address",
            # addresses.yaml GET /address: the same names, ZIPCode "^\\d{5}$"
            # and ZIPPlus4 "^\\d{4}$": a ZIP+4 keeps its 4 digits.
            params=_usps_address(address),
        )
        found = data.get("address") or {}
        # AddressResponse's JSON names (addresses.yaml 3.2.3, USPS/api-examples'
        # README): additionalInfo and corrections; "addressAdditionalInfo" is
        # only its XML element's name.
        info = data.get("additionalInfo") or {}
        return AddressValidation(
            valid=info.get("DPVConfirmation") == "Y",
            address=_standard(found, address) if found else None,
            residential={"Y": False, "N": True}.get(str(info.get("business"))),
            messages=_corrections(data.get("corrections")),
        )


# --- Wire shapes ------------------------------------------------------------------


def _rate_parts(
    rate_id: str, *, category: str = DEFAULT_RATE[2]
) -> tuple[str, str, str]:
    parts = rate_id.split(RATE_ID_SEPARATOR) if rate_id else []
    mail_class, indicator, found = (*parts, "", "", "")[:3]
    return mail_class, indicator or DEFAULT_RATE[1], found or category


def _package(parcel: Parcel) -> dict[str, Any]:
    package: dict[str, Any] = {
        "weight": Decimal(decimal_text(parcel.weight_in(WeightUnit.LB), 2))
    }
    sides = parcel.dimensions_in(DimensionUnit.IN) or (Decimal(0),) * 3
    for name, side in zip(("length", "width", "height"), sides, strict=True):
        package[name] = Decimal(decimal_text(side, 1))
    return package


def _label_address(address: Address) -> dict[str, Any]:
    wire = {
        **_usps_address(address),
        **intl.addressee(address.name, address.company),
        "phone": address.phone,
        "email": address.email,
    }
    return {key: value for key, value in wire.items() if value}


def _usps_address(address: Address) -> dict[str, Any]:
    # The address fields a label, a pickup and an address check share.
    lines = [line for line in address.street_lines if line] + [""]
    wire = {
        "streetAddress": lines[0],
        "secondaryAddress": lines[1],
        "city": address.city,
        "state": address.state_code,
        **_zip(address.postal_code),
    }
    # As a label's: none sent empty (carrier-pickup.yaml DomesticAddress
    # state minLength 2, ZIPCode "^\\d{5}$": "" is neither).
    return {key: value for key, value in wire.items() if value}


def _zip(postcode: str) -> dict[str, str]:
    # Labels and pickups have ZIPPlus4 beside ZIPCode (karrio-samples
    # label_request.json, pickup_request.json): a ZIP+4 keeps its 4 digits.
    code, plus_4 = zip_parts(postcode)
    return (
        {"ZIPCode": code[:5], "ZIPPlus4": plus_4} if plus_4 else {"ZIPCode": code[:5]}
    )


def _corrections(corrections: object) -> tuple[str, ...]:
    # USPS lists {"code": "", "text": ""} when it corrected nothing.
    listed = corrections if isinstance(corrections, list) else []
    said = (c.get("text") or c.get("code") for c in listed if isinstance(c, Mapping))
    return tuple(str(text) for text in said if text)


def _standard(found: Mapping[str, Any], given: Address) -> Address:
    postcode = str(found.get("ZIPCode") or given.postal_code)
    if found.get("ZIPPlus4"):
        postcode = f"{postcode}-{found['ZIPPlus4']}"
    lines = tuple(
        str(found[key])
        for key in ("streetAddress", "secondaryAddress")
        if found.get(key)
    )
    return Address(
        name=given.name,
        company=given.company,
        phone=given.phone,
        email=given.email,
        street_lines=lines or given.street_lines,
        city=str(found.get("city") or given.city),
        state_code=str(found.get("state") or given.state_code),
        postal_code=postcode,
        country_code="US",
    )


__all__ = ["USPSAdapter"]
