"""The compare-rates form: two addresses and one parcel (customs when the
countries differ). The service checks it again, naming the field."""

import uuid
from decimal import Decimal

from django import forms

from shipping.providers.base import (
    Address,
    Customs,
    CustomsItem,
    Parcel,
    RateRequest,
)
from shipping.units import DimensionUnit, WeightUnit

_WEIGHT_UNITS = [(u.value, u.value) for u in WeightUnit]
_LENGTH_UNITS = [(u.value, u.value) for u in DimensionUnit]
_ADDRESS = ("name", "street", "city", "postal_code", "state_code", "country_code")


class CompareRatesForm(forms.Form):
    from_name = forms.CharField(max_length=128, initial="Switchyard Warehouse")
    from_street = forms.CharField(max_length=128, initial="1 Dock Road")
    from_city = forms.CharField(max_length=128, initial="Memphis")
    from_postal_code = forms.CharField(max_length=16, required=False, initial="38118")
    from_state_code = forms.CharField(max_length=8, required=False, initial="TN")
    from_country_code = forms.CharField(max_length=2, initial="US")
    to_name = forms.CharField(max_length=128)
    to_street = forms.CharField(max_length=128)
    to_city = forms.CharField(max_length=128)
    to_postal_code = forms.CharField(max_length=16, required=False)
    to_state_code = forms.CharField(max_length=8, required=False)
    to_country_code = forms.CharField(max_length=2, initial="US")
    weight = forms.DecimalField(max_digits=10, decimal_places=3)
    weight_unit = forms.ChoiceField(choices=_WEIGHT_UNITS, initial="kg")
    length = forms.DecimalField(max_digits=8, decimal_places=2, required=False)
    width = forms.DecimalField(max_digits=8, decimal_places=2, required=False)
    height = forms.DecimalField(max_digits=8, decimal_places=2, required=False)
    dimension_unit = forms.ChoiceField(choices=_LENGTH_UNITS, initial="cm")
    customs_description = forms.CharField(
        max_length=255, required=False, help_text="International parcels only."
    )
    customs_value = forms.IntegerField(
        min_value=0, required=False, help_text="In minor units (cents)."
    )
    customs_currency = forms.CharField(max_length=3, required=False, initial="USD")
    order_id = forms.CharField(max_length=128, required=False)

    def _address(self, prefix: str) -> Address:
        data = {name: self.cleaned_data[f"{prefix}_{name}"] for name in _ADDRESS}
        return Address(
            name=data["name"],
            street_lines=(data["street"],),
            city=data["city"],
            postal_code=data["postal_code"] or "",
            state_code=data["state_code"] or "",
            country_code=data["country_code"].upper(),
        )

    def rate_request(self) -> RateRequest:
        data = self.cleaned_data
        parcel = Parcel(
            weight=data["weight"],
            weight_unit=WeightUnit(data["weight_unit"]),
            length=data["length"],
            width=data["width"],
            height=data["height"],
            dimension_unit=DimensionUnit(data["dimension_unit"]),
        )
        origin = self._address("from")
        customs = None
        if data["customs_description"]:
            item = CustomsItem(
                description=data["customs_description"],
                quantity=1,
                value=data["customs_value"] or 0,
                currency=(data["customs_currency"] or "USD").upper(),
                weight=data["weight"] or Decimal(0),
                weight_unit=WeightUnit(data["weight_unit"]),
                origin_country=origin.country_code,
            )
            customs = Customs(items=(item,))
        return RateRequest(
            from_address=origin,
            to_address=self._address("to"),
            parcels=(parcel,),
            customs=customs,
        )


def new_buy_key() -> str:
    """One key per rendered buy button: a double click buys one label."""
    return uuid.uuid4().hex
