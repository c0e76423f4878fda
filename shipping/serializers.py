"""API shapes of rate requests, quotes, shipments, tracking and pickups.
Prices are integers in the currency's minor unit with an ISO 4217 code;
weights and lengths are decimal strings with their units."""

from decimal import Decimal
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations import money
from shipping import codec
from shipping.models import (
    LABEL_ANNOUNCED_STATUSES,
    LabelFormatChoice,
    Pickup,
    Shipment,
    ShipmentParcel,
    ShipmentStatus,
    TrackingEvent,
    TrackingStatusChoice,
)
from shipping.providers.base import RateRequest
from shipping.providers.field_limits import (
    DHL_EXPRESS_FIELDS,
    FEDEX_FIELDS,
    SHIPPO_FIELDS,
    UPS_FIELDS,
    UPS_RATING_FIELDS,
    USPS_FIELDS,
    FieldLimits,
)
from shipping.providers.validation import (
    MAX_PICKUP_DAYS_AHEAD,
    MAX_PICKUP_PARCELS,
    MAX_SHIP_DAYS_AHEAD,
)
from shipping.services.errors import public_refusal
from shipping.units import DimensionUnit, WeightUnit

_CARRIERS = (
    ("UPS", UPS_FIELDS),
    ("FedEx", FEDEX_FIELDS),
    ("DHL Express", DHL_EXPRESS_FIELDS),
    ("Shippo", SHIPPO_FIELDS),
    ("USPS", USPS_FIELDS),
)


def _carriers_take(field: str) -> str:
    """The schema's word on a carrier's shorter limit (field_limits.py)."""
    numbers = ", ".join(
        f"{name}: {_limit_text(fields, field)}"
        for name, fields in _CARRIERS
        if getattr(fields, field) is not None
        or (field == "name" and fields.name_part is not None)
    )
    return (
        f"A carrier may take fewer characters ({numbers}, "
        "counted as it is sent; docs/shipping.md, Carrier field limits): a longer "
        "one leaves that carrier "
        "out of a quote, and is a 400 `field_too_long` naming the field when no "
        "carrier (or the quote's, buying a label) can take it."
    )


def _state_required() -> str:
    """Where a carrier requires a state (FieldLimits.state_countries)."""
    said = "; ".join(
        f"{name}: {', '.join(sorted(fields.state_countries))}"
        for name, fields in _CARRIERS
        if fields.state_countries
    )
    return (
        f" Required where the carrier requires one ({said}; a USPS address "
        "check in the US and its territories; a Shippo pickup in every "
        "country): blank there is a 400 "
        "`missing_field`. Elsewhere it is optional on a quote and a label: one "
        "longer or shorter than a carrier takes is left out of what that "
        "carrier is sent, not refused."
    )


# Pickups whose spec requires more than our API does (FieldLimits
# postal_code_everywhere, two_names): said where the field is described.
_PICKUP_POSTCODE = (
    " A Shippo pickup requires one in every country (none is a 400 `missing_field`),"
    " and so does a Shippo label, and so its quote (bought from the quote's"
    " request)."
)
_US_STATE = (
    " In the US and its territories (PR, GU, VI, AS, MP; at USPS also FM, MH, "
    "PW) a state is its 2-letter code, its ISO 3166-2 code (US-IL, the prefix "
    "the address's country or US) or its English name, sent to every carrier "
    "as its code; one that names none there (IL at a Puerto Rico address), or "
    "has another country's prefix, is a 400 `invalid_state`, as is a US state "
    "at an FM, MH or PW address at every carrier. Elsewhere an ISO "
    "3166-2 code of the address's country is sent as its short code (CA-ON as "
    "ON), an Irish one as its county's name (IE-CO as Cork, CO too); one naming "
    "a place ISO 3166-1 lists as a country (CN-HK, or HK at a CN address: HK) "
    "is a 400 `invalid_state`."
)
_PHONE_RULES = (
    " USPS gets a phone's digits, a leading + kept; one that cannot fit its "
    "pattern (letters, an extension, 6 to 15 digits) is a 400 `invalid_phone`."
    " UPS requires both phones on a shipment abroad, FedEx and DHL Express "
    "require both phones on every shipment, UPS Next Day Air Early (at UPS "
    "or through Shippo) the recipient's, their quotes too, and so do their "
    "services through Shippo (`fedex_*`, `dhl_express_*`, `ups_*`, "
    "`ups_express_early` as Next Day Air Early); a UPS or DHL "
    "Express pickup its contact's, through Shippo too (labels of `ups_*` or "
    "`dhl_express_*` tokens); none is a 400 `missing_field`."
)
_USPS_EMAIL = (
    " A USPS pickup requires one, its contact (none is a 400 `missing_field`)."
)
_PICKUP_NAMES = (
    " A USPS pickup needs a first and a last name (one word is a 400 `invalid_name`)."
)


def _limit_text(fields: FieldLimits, field: str) -> str:
    if field == "name" and fields.name_part is not None:  # USPS: first, last
        return f"{fields.name_part} for its first word and for the rest"
    if field == "name" and fields.name_alone is not None:  # DHL: fullName
        return f"{fields.name_alone} ({fields.name} with a company)"
    if field == "phone" and fields.phone_extension is not None:
        fewest = f"at least {fields.phone_min}, `field_too_short`; " * bool(
            fields.phone_min
        )
        return f"{fields.phone} ({fewest}an extension {fields.phone_extension})"
    if field == "hs_code" and fields.hs_code_min is not None:
        return f"{fields.hs_code} (at least {fields.hs_code_min}, `field_too_short`)"
    if field == "state_code" and fields is UPS_FIELDS:  # Rating takes fewer
        return f"{fields.state_code} ({UPS_RATING_FIELDS.state_code} in a quote)"
    return str(getattr(fields, field))


# Optional text fields: blank means none, the same as leaving them out (their
# declared default), so sending the default is accepted. The lengths are ours;
# a carrier's shorter ones are checked before it is called.
class AddressSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=128, help_text=_carriers_take("name") + _PICKUP_NAMES
    )
    company = serializers.CharField(
        max_length=128,
        required=False,
        default="",
        allow_blank=True,
        help_text=_carriers_take("company"),
    )
    street_lines = serializers.ListField(
        child=serializers.CharField(max_length=128),
        max_length=3,
        help_text=_carriers_take("street_line"),
    )
    city = serializers.CharField(max_length=128, help_text=_carriers_take("city"))
    # Room for a US state's or territory's name ("Federated States of
    # Micronesia"), sent to every carrier as its code; 40 is the longest any
    # carrier's field takes (USPS InternationalAddress province).
    state_code = serializers.CharField(
        max_length=40,
        required=False,
        default="",
        allow_blank=True,
        help_text=_carriers_take("state_code") + _state_required() + _US_STATE,
    )
    postal_code = serializers.CharField(
        max_length=16,
        required=False,
        default="",
        allow_blank=True,
        help_text=_carriers_take("postal_code") + _PICKUP_POSTCODE,
    )
    country_code = serializers.CharField(
        min_length=2, max_length=2, help_text="ISO 3166-1 alpha-2."
    )
    phone = serializers.CharField(
        max_length=32,
        required=False,
        default="",
        allow_blank=True,
        help_text=_carriers_take("phone") + _PHONE_RULES,
    )
    email = serializers.EmailField(
        required=False, default="", allow_blank=True, help_text=_USPS_EMAIL
    )
    residential = serializers.BooleanField(
        required=False, allow_null=True, default=None
    )


class ParcelSerializer(serializers.Serializer):
    weight = serializers.DecimalField(max_digits=10, decimal_places=3)
    weight_unit = serializers.ChoiceField(
        choices=[u.value for u in WeightUnit], default="kg"
    )
    length = serializers.DecimalField(
        max_digits=8, decimal_places=2, required=False, allow_null=True
    )
    width = serializers.DecimalField(
        max_digits=8, decimal_places=2, required=False, allow_null=True
    )
    height = serializers.DecimalField(
        max_digits=8, decimal_places=2, required=False, allow_null=True
    )
    dimension_unit = serializers.ChoiceField(
        choices=[u.value for u in DimensionUnit], default="cm"
    )


class CustomsItemSerializer(serializers.Serializer):
    description = serializers.CharField(
        max_length=255, help_text=_carriers_take("customs_description")
    )
    quantity = serializers.IntegerField(min_value=1)
    value = serializers.IntegerField(min_value=0, help_text="Per unit, minor units.")
    currency = serializers.CharField(min_length=3, max_length=3)
    weight = serializers.DecimalField(max_digits=10, decimal_places=3)

    def validate_currency(self, value: str) -> str:
        try:
            return money.validate_currency(value)
        except ValueError:
            raise serializers.ValidationError(
                "Unknown ISO 4217 currency code.", code="invalid_currency"
            ) from None

    weight_unit = serializers.ChoiceField(
        choices=[u.value for u in WeightUnit], default="kg"
    )
    origin_country = serializers.CharField(min_length=2, max_length=2)
    hs_code = serializers.CharField(
        max_length=16,
        required=False,
        default="",
        allow_blank=True,
        help_text=_carriers_take("hs_code"),
    )
    sku = serializers.CharField(
        max_length=64, required=False, default="", allow_blank=True
    )


class CustomsSerializer(serializers.Serializer):
    contents_type = serializers.ChoiceField(
        choices=["merchandise", "documents", "gift", "sample", "return"],
        default="merchandise",
    )
    incoterm = serializers.ChoiceField(choices=["DAP", "DDP"], default="DAP")
    exporter_reference = serializers.CharField(
        max_length=64, required=False, default="", allow_blank=True
    )
    items = CustomsItemSerializer(many=True)


def _json(data: dict[str, Any]) -> dict[str, Any]:
    """Validated data as codec JSON (decimals as text)."""
    return {k: (str(v) if hasattr(v, "as_tuple") else v) for k, v in data.items()}


class RateRequestSerializer(serializers.Serializer):
    from_address = AddressSerializer()
    to_address = AddressSerializer()
    parcels = ParcelSerializer(many=True)
    customs = CustomsSerializer(required=False, allow_null=True, default=None)
    ship_date = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Default: today. From yesterday (UTC, for zones behind it) to "
        f"{MAX_SHIP_DAYS_AHEAD} days ahead, as carriers date labels; else a 400 "
        "invalid_date naming ship_date.",
    )
    service_codes = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list
    )

    def to_request(self) -> RateRequest:
        data = self.validated_data
        customs = data["customs"]
        if customs is not None:
            customs = {**customs, "items": [_json(i) for i in customs["items"]]}
        return RateRequest(
            from_address=codec.address_from_json(data["from_address"]),
            to_address=codec.address_from_json(data["to_address"]),
            parcels=tuple(codec.parcel_from_json(_json(p)) for p in data["parcels"]),
            customs=codec.customs_from_json(customs),
            ship_date=data["ship_date"],
            service_codes=tuple(data["service_codes"]),
        )


class QuoteSerializer(serializers.Serializer):
    quote_id = serializers.CharField()
    account = serializers.CharField()
    account_name = serializers.CharField()
    carrier = serializers.CharField()
    service_code = serializers.CharField()
    service_name = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units of ``currency``.")
    currency = serializers.CharField(help_text="ISO 4217; never converted.")
    estimated_delivery = serializers.DateField(allow_null=True)
    transit_days = serializers.IntegerField(allow_null=True)
    expires_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    cheapest = serializers.BooleanField(help_text="The cheapest in its currency.")
    fastest = serializers.BooleanField()


class CarrierFailureSerializer(serializers.Serializer):
    account = serializers.CharField()
    account_name = serializers.CharField()
    provider = serializers.CharField()
    reason = serializers.ChoiceField(choices=["timeout", "breaker_open", "error"])
    outcome = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()
    duration_ms = serializers.IntegerField()
    param = serializers.CharField(
        allow_null=True,
        help_text="The field this carrier cannot take (`to_address.city`), when "
        "it was left out by our check of its published limits (`code` "
        "`field_too_long`, `field_too_short`, ...) and never called; null for "
        "any other failure.",
    )
    service_code = serializers.CharField(
        allow_null=True,
        help_text="The one service left out, the carrier's others quoted: one "
        "this request cannot buy (UPS Next Day Air Early, code `14` at UPS, "
        "`ups_next_day_air_early_am` at Shippo, without the recipient's phone, "
        "`param` `to_address.phone`; a Shippo FedEx, DHL Express or UPS token "
        "without a phone its carrier needs); null when the whole carrier failed.",
    )


class RateShopSerializer(serializers.Serializer):
    fingerprint = serializers.CharField()
    cached = serializers.BooleanField()
    currencies = serializers.ListField(
        child=serializers.CharField(),
        help_text="The quotes' currencies, in the order the quotes are grouped. "
        "Amounts are never converted, so prices are compared only within one.",
    )
    quotes = QuoteSerializer(
        many=True, help_text="Grouped by currency, each group cheapest first."
    )
    failures = CarrierFailureSerializer(many=True)


class ShipmentCreateSerializer(serializers.Serializer):
    quote_id = serializers.CharField(max_length=32)
    order_id = serializers.CharField(
        max_length=128, required=False, default="", allow_blank=True
    )
    # Absent: the carrier's preferred format (UPS prints no PDF). No declared
    # default: "" is not one of the formats.
    label_format = serializers.ChoiceField(
        choices=LabelFormatChoice.choices, required=False
    )


class TrackingEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrackingEvent
        fields = [
            "status",
            "carrier_status_code",
            "description",
            "location",
            "occurred_at",
        ]


class ShipmentParcelSerializer(serializers.ModelSerializer):
    label_url = serializers.SerializerMethodField()

    class Meta:
        model = ShipmentParcel
        fields = ["sequence", "tracking_number", "label_url", "voided_at"]

    def get_label_url(self, parcel: ShipmentParcel) -> str | None:
        # None when the carrier printed one label for every parcel, or this
        # parcel's own was voided.
        if not parcel.label_data or parcel.voided_at is not None:
            return None
        url = reverse("api:shipment-label", args=[parcel.shipment.public_id])
        return f"{url}?parcel={parcel.sequence}"


class ShipmentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    account = serializers.CharField(source="account.slug")
    quote_id = serializers.SerializerMethodField()
    label_url = serializers.SerializerMethodField()
    failure = serializers.SerializerMethodField()
    tracking_events = TrackingEventSerializer(many=True, read_only=True)
    # Multi-parcel shipments: each parcel's tracking number and own label.
    parcel_labels = ShipmentParcelSerializer(many=True, read_only=True)

    class Meta:
        model = Shipment
        fields = [
            "id",
            "order_id",
            "status",
            "tracking_status",
            "account",
            "carrier",
            "service_code",
            "service_name",
            "amount",
            "currency",
            "quote_id",
            "tracking_number",
            "label_format",
            "label_url",
            "estimated_delivery",
            "delivered_at",
            "from_address",
            "to_address",
            "parcels",
            "customs",
            "failure",
            "tracking_events",
            "parcel_labels",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, shipment: Shipment) -> dict[str, Any]:
        data = super().to_representation(shipment)
        if shipment.status not in LABEL_ANNOUNCED_STATUSES:
            # A label kept but not announced (its file garbled, or settled as
            # not bought): the storefront sees what the events told it, none.
            data["tracking_number"] = ""
            data["tracking_status"] = TrackingStatusChoice.UNKNOWN.value
            for field in ("tracking_events", "parcel_labels"):
                if field in data:
                    data[field] = []
        return data

    def get_quote_id(self, shipment: Shipment) -> str | None:
        return shipment.quote.public_id if shipment.quote_id else None

    def get_label_url(self, shipment: Shipment) -> str | None:
        # Only a bought label downloads: a voided one's link would be a 404,
        # one not announced yet has nothing to show.
        if not shipment.tracking_number:
            return None
        if shipment.status != ShipmentStatus.PURCHASED:
            return None
        return reverse("api:shipment-label", args=[shipment.public_id])

    def get_failure(self, shipment: Shipment) -> dict[str, str] | None:
        if not shipment.failure_code:
            return None
        # Our words per code; the carrier's text (failure_message) is for
        # staff only (issue 17, 3).
        if shipment.status == ShipmentStatus.UNKNOWN:
            message = "the carrier's answer was lost; we are asking it"
        else:
            message = public_refusal(shipment.failure_code, "the label")
        return {"code": shipment.failure_code, "message": message}


class ShipmentListSerializer(ShipmentSerializer):
    class Meta(ShipmentSerializer.Meta):
        fields = [
            f
            for f in ShipmentSerializer.Meta.fields
            if f not in ("tracking_events", "parcel_labels")
        ]


class AddressValidateSerializer(serializers.Serializer):
    account = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        allow_blank=True,
        help_text="Slug of the shipping account to ask; default: the first "
        "enabled one that validates addresses.",
    )
    address = AddressSerializer()


class AddressValidationSerializer(serializers.Serializer):
    account = serializers.CharField()
    valid = serializers.BooleanField()
    address = AddressSerializer(allow_null=True)
    residential = serializers.BooleanField(allow_null=True)
    messages = serializers.ListField(child=serializers.CharField())


class PickupCreateSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=64, help_text="Shipping account slug.")
    address = AddressSerializer()
    pickup_date = serializers.DateField(
        help_text="From yesterday (UTC, for zones behind it) to "
        f"{MAX_PICKUP_DAYS_AHEAD} days ahead, as carriers book pickups; else a "
        "400 invalid_date naming pickup_date."
    )
    ready_time = serializers.TimeField()
    close_time = serializers.TimeField()
    parcel_count = serializers.IntegerField(min_value=1, max_value=MAX_PICKUP_PARCELS)
    total_weight = serializers.DecimalField(
        max_digits=10, decimal_places=3, min_value=Decimal("0.001")
    )
    weight_unit = serializers.ChoiceField(
        choices=[u.value for u in WeightUnit], default="kg"
    )
    instructions = serializers.CharField(
        max_length=255, required=False, default="", allow_blank=True
    )
    shipments = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        max_length=100,
        help_text="Bought shipments (shp_...) of this account to collect; "
        "required by Shippo, which collects only labels bought through it.",
    )


class PickupSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    account = serializers.CharField(source="account.slug")
    shipments = serializers.SerializerMethodField(
        help_text="The shipments (shp_...) this pickup collects."
    )

    class Meta:
        model = Pickup
        fields = [
            "id",
            "account",
            "status",
            "confirmation_number",
            "pickup_date",
            "ready_time",
            "close_time",
            "address",
            "parcel_count",
            "total_weight",
            "weight_unit",
            "instructions",
            "shipments",
            "created_at",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_shipments(self, pickup: Pickup) -> list[str]:
        # Only the ids: a shipment row carries its label files.
        return list(pickup.shipments.values_list("public_id", flat=True))
