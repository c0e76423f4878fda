"""The compare-rates form: two addresses, up to ``MAX_PARCELS`` parcels and,
for international parcels, up to ``MAX_CUSTOMS_LINES`` customs lines. The
first parcel and the first customs line keep their plain field names
(``weight``, ``customs_description``...); the others are numbered
(``parcel2_weight``, ``customs2_description``...). A row counts when its
weight (parcel) or description (customs line) is filled. The service checks
the request again, naming the field."""

import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms

from shipping.providers.base import (
    Address,
    Customs,
    CustomsItem,
    Parcel,
    RateRequest,
)
from shipping.units import DimensionUnit, WeightUnit

MAX_PARCELS = 4
MAX_CUSTOMS_LINES = 3
_WEIGHT_UNITS = [(u.value, u.value) for u in WeightUnit]
_LENGTH_UNITS = [(u.value, u.value) for u in DimensionUnit]
_ADDRESS = (
    "name",
    "street",
    "city",
    "postal_code",
    "state_code",
    "country_code",
    "phone",
)
_PARCEL = ("weight", "length", "width", "height")
_CUSTOMS = ("description", "quantity", "value", "weight")
_GRAMS = Decimal("0.001")


def parcel_field(index: int, name: str) -> str:
    """The form field of parcel ``index`` (1-based)."""
    return name if index == 1 else f"parcel{index}_{name}"


def customs_field(index: int, name: str) -> str:
    """The form field of customs line ``index`` (1-based)."""
    return f"customs_{name}" if index == 1 else f"customs{index}_{name}"


# A US state's name and ISO code are taken too (us_states): not a "code".
STATE_HELP = (
    "Its code (IL, NSW) or, in the US and its territories, also its ISO "
    "3166-2 code (US-IL) or English name (Illinois)."
)

# Carriers whose labels require phones (field_limits): without them each is
# left out of the comparison (a UPS service of its own with it).
PHONE_HELP = (
    "FedEx and DHL Express require both phones, UPS both on a shipment "
    "abroad and the recipient's for Next Day Air Early (through Shippo "
    "too, and Shippo's FedEx, DHL Express and UPS services likewise)."
)


class CompareRatesForm(forms.Form):
    from_name = forms.CharField(max_length=128, initial="Switchyard Warehouse")
    from_street = forms.CharField(max_length=128, initial="1 Dock Road")
    from_city = forms.CharField(max_length=128, initial="Memphis")
    from_postal_code = forms.CharField(max_length=16, required=False, initial="38118")
    from_state_code = forms.CharField(
        max_length=40,
        required=False,
        initial="TN",
        label="From state",
        help_text=STATE_HELP,
    )
    from_country_code = forms.CharField(max_length=2, initial="US")
    from_phone = forms.CharField(
        max_length=32,
        required=False,
        initial="+19015550100",  # the warehouse's, as the API example's
        label="From phone",
        help_text=PHONE_HELP,
    )
    to_name = forms.CharField(max_length=128)
    to_street = forms.CharField(max_length=128)
    to_city = forms.CharField(max_length=128)
    to_postal_code = forms.CharField(max_length=16, required=False)
    to_state_code = forms.CharField(
        max_length=40, required=False, label="To state", help_text=STATE_HELP
    )
    to_country_code = forms.CharField(max_length=2, initial="US")
    to_phone = forms.CharField(
        max_length=32, required=False, label="To phone", help_text=PHONE_HELP
    )
    weight_unit = forms.ChoiceField(choices=_WEIGHT_UNITS, initial="kg")
    dimension_unit = forms.ChoiceField(choices=_LENGTH_UNITS, initial="cm")
    customs_currency = forms.CharField(max_length=3, required=False, initial="USD")
    order_id = forms.CharField(max_length=128, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for index in range(1, MAX_PARCELS + 1):
            self.fields[parcel_field(index, "weight")] = forms.DecimalField(
                max_digits=10, decimal_places=3, required=index == 1
            )
            for side in _PARCEL[1:]:
                self.fields[parcel_field(index, side)] = forms.DecimalField(
                    max_digits=8, decimal_places=2, required=False
                )
        for index in range(1, MAX_CUSTOMS_LINES + 1):
            self.fields[customs_field(index, "description")] = forms.CharField(
                max_length=255, required=False
            )
            self.fields[customs_field(index, "quantity")] = forms.IntegerField(
                min_value=1, required=False, initial=1
            )
            self.fields[customs_field(index, "value")] = forms.IntegerField(
                min_value=0, required=False, help_text="Per unit, in minor units."
            )
            self.fields[customs_field(index, "weight")] = forms.DecimalField(
                max_digits=10,
                decimal_places=3,
                required=False,
                help_text="Per unit; blank shares the parcels' weight.",
            )

    # --- Layout (the template draws one table row per parcel / line) --------

    def address_fields(self) -> list[forms.BoundField]:
        return [self[f"{side}_{name}"] for side in ("from", "to") for name in _ADDRESS]

    def parcel_rows(self) -> list[list[forms.BoundField]]:
        return [
            [self[parcel_field(index, name)] for name in _PARCEL]
            for index in range(1, MAX_PARCELS + 1)
        ]

    def customs_rows(self) -> list[list[forms.BoundField]]:
        return [
            [self[customs_field(index, name)] for name in _CUSTOMS]
            for index in range(1, MAX_CUSTOMS_LINES + 1)
        ]

    # --- Validation -------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for index in range(2, MAX_PARCELS + 1):
            sides = [data.get(parcel_field(index, side)) for side in _PARCEL[1:]]
            weight = parcel_field(index, "weight")
            if any(v is not None for v in sides) and data.get(weight) is None:
                self.add_error(weight, "A parcel with dimensions needs a weight.")
        for index in range(1, MAX_CUSTOMS_LINES + 1):
            described = data.get(customs_field(index, "description"))
            value = data.get(customs_field(index, "value"))
            if value is not None and not described:
                self.add_error(
                    customs_field(index, "description"),
                    "A customs line with a value needs a description.",
                )
        return data

    # --- The request ------------------------------------------------------------

    def _address(self, prefix: str) -> Address:
        data = {name: self.cleaned_data[f"{prefix}_{name}"] for name in _ADDRESS}
        return Address(
            name=data["name"],
            street_lines=(data["street"],),
            city=data["city"],
            postal_code=data["postal_code"] or "",
            state_code=data["state_code"] or "",
            country_code=data["country_code"].upper(),
            phone=data["phone"] or "",
        )

    def _parcels(self) -> tuple[Parcel, ...]:
        data = self.cleaned_data
        return tuple(
            Parcel(
                weight=data[parcel_field(index, "weight")],
                weight_unit=WeightUnit(data["weight_unit"]),
                length=data[parcel_field(index, "length")],
                width=data[parcel_field(index, "width")],
                height=data[parcel_field(index, "height")],
                dimension_unit=DimensionUnit(data["dimension_unit"]),
            )
            for index in range(1, MAX_PARCELS + 1)
            if index == 1 or data.get(parcel_field(index, "weight")) is not None
        )

    def _customs(self, parcels: tuple[Parcel, ...], origin: str) -> Customs | None:
        data = self.cleaned_data
        lines = [
            index
            for index in range(1, MAX_CUSTOMS_LINES + 1)
            if data.get(customs_field(index, "description"))
        ]
        if not lines:
            return None
        units = sum(data.get(customs_field(i, "quantity")) or 1 for i in lines)
        total = sum((p.weight or Decimal(0) for p in parcels), Decimal(0))
        # A line without its own weight gets an equal share per unit.
        share = (total / units).quantize(_GRAMS, rounding=ROUND_HALF_UP)
        currency = (data["customs_currency"] or "USD").upper()
        items = tuple(
            CustomsItem(
                description=data[customs_field(i, "description")],
                quantity=data.get(customs_field(i, "quantity")) or 1,
                value=data.get(customs_field(i, "value")) or 0,
                currency=currency,
                weight=data.get(customs_field(i, "weight")) or share,
                weight_unit=WeightUnit(data["weight_unit"]),
                origin_country=origin,
            )
            for i in lines
        )
        return Customs(items=items)

    def rate_request(self) -> RateRequest:
        origin = self._address("from")
        parcels = self._parcels()
        return RateRequest(
            from_address=origin,
            to_address=self._address("to"),
            parcels=parcels,
            customs=self._customs(parcels, origin.country_code),
        )


def new_buy_key() -> str:
    """One key per rendered buy button: a double click buys one label."""
    return uuid.uuid4().hex
