"""The boundary dataclasses as JSON and back: how a shipment keeps its
addresses, parcels and customs in the database, and how a quote keeps the
request it answered so it can be bought by id alone. Decimals travel as
strings, never floats."""

from datetime import date
from decimal import Decimal
from typing import Any

from shipping.providers.base import (
    Address,
    ContentsType,
    Customs,
    CustomsItem,
    Parcel,
    RateRequest,
)
from shipping.units import DimensionUnit, WeightUnit


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def address_to_json(address: Address) -> dict[str, Any]:
    return {
        "name": address.name,
        "company": address.company,
        "street_lines": list(address.street_lines),
        "city": address.city,
        "state_code": address.state_code,
        "postal_code": address.postal_code,
        "country_code": address.country_code,
        "phone": address.phone,
        "email": address.email,
        "residential": address.residential,
    }


def address_from_json(data: dict[str, Any]) -> Address:
    return Address(
        name=data.get("name", ""),
        company=data.get("company", ""),
        street_lines=tuple(data.get("street_lines") or ()),
        city=data.get("city", ""),
        state_code=data.get("state_code", ""),
        postal_code=data.get("postal_code", ""),
        country_code=str(data.get("country_code", "")).upper(),
        phone=data.get("phone", ""),
        email=data.get("email", ""),
        residential=data.get("residential"),
    )


def parcel_to_json(parcel: Parcel) -> dict[str, Any]:
    return {
        "weight": str(parcel.weight),
        "weight_unit": str(parcel.weight_unit),
        "length": _text(parcel.length),
        "width": _text(parcel.width),
        "height": _text(parcel.height),
        "dimension_unit": str(parcel.dimension_unit),
    }


def parcel_from_json(data: dict[str, Any]) -> Parcel:
    return Parcel(
        weight=_decimal(data.get("weight")) or Decimal(0),
        weight_unit=WeightUnit(data.get("weight_unit", "kg")),
        length=_decimal(data.get("length")),
        width=_decimal(data.get("width")),
        height=_decimal(data.get("height")),
        dimension_unit=DimensionUnit(data.get("dimension_unit", "cm")),
    )


def customs_to_json(customs: Customs | None) -> dict[str, Any] | None:
    if customs is None:
        return None
    return {
        "contents_type": str(customs.contents_type),
        "incoterm": customs.incoterm,
        "exporter_reference": customs.exporter_reference,
        "items": [
            {
                "description": item.description,
                "quantity": item.quantity,
                "value": item.value,
                "currency": item.currency,
                "weight": str(item.weight),
                "weight_unit": str(item.weight_unit),
                "origin_country": item.origin_country,
                "hs_code": item.hs_code,
                "sku": item.sku,
            }
            for item in customs.items
        ],
    }


def customs_from_json(data: dict[str, Any] | None) -> Customs | None:
    if not data:
        return None
    items = tuple(
        CustomsItem(
            description=item.get("description", ""),
            quantity=int(item.get("quantity", 0)),
            value=int(item.get("value", 0)),
            currency=str(item.get("currency", "")).upper(),
            weight=_decimal(item.get("weight")) or Decimal(0),
            weight_unit=WeightUnit(item.get("weight_unit", "kg")),
            origin_country=str(item.get("origin_country", "")).upper(),
            hs_code=item.get("hs_code", ""),
            sku=item.get("sku", ""),
        )
        for item in data.get("items") or ()
    )
    return Customs(
        items=items,
        contents_type=ContentsType(data.get("contents_type", "merchandise")),
        incoterm=data.get("incoterm", "DAP"),
        exporter_reference=data.get("exporter_reference", ""),
    )


def request_to_json(request: RateRequest) -> dict[str, Any]:
    """What a quote keeps of the request it answered."""
    return {
        "from_address": address_to_json(request.from_address),
        "to_address": address_to_json(request.to_address),
        "parcels": [parcel_to_json(parcel) for parcel in request.parcels],
        "customs": customs_to_json(request.customs),
        "ship_date": request.ship_date.isoformat() if request.ship_date else None,
    }


def request_from_json(data: dict[str, Any]) -> RateRequest:
    ship_date = data.get("ship_date")
    return RateRequest(
        from_address=address_from_json(data["from_address"]),
        to_address=address_from_json(data["to_address"]),
        parcels=tuple(parcel_from_json(p) for p in data.get("parcels") or ()),
        customs=customs_from_json(data.get("customs")),
        ship_date=date.fromisoformat(ship_date) if ship_date else None,
    )
