"""Requests the shipping harnesses share: a domestic and an international
parcel, a label, a tracking look-up, and the requests every carrier must
refuse before calling anyone (``invalid_request``). A harness may build its
own from its carrier's fixtures instead."""

import base64
import uuid
from dataclasses import replace
from decimal import Decimal

from integrations.models import ProviderAccount
from shipping.providers.base import (
    Address,
    Customs,
    CustomsItem,
    LabelFormat,
    LabelRequest,
    Parcel,
    RateRequest,
)
from shipping.providers.tracking_types import TrackRequest
from shipping.units import DimensionUnit, WeightUnit

SHIPPER = Address(
    name="Switchyard Warehouse",
    company="Switchyard Ltd",
    street_lines=("1 Dock Road",),
    city="Memphis",
    state_code="TN",
    postal_code="38118",
    country_code="US",
    phone="+19015550100",
)
RECIPIENT = Address(
    name="Ada Buyer",
    street_lines=("742 Evergreen Terrace",),
    city="Springfield",
    state_code="IL",
    postal_code="62704",
    country_code="US",
    phone="+12175550199",
)
ABROAD = Address(
    name="Grace Kunde",
    street_lines=("Hauptstrasse 5",),
    city="Berlin",
    postal_code="10115",
    country_code="DE",
    phone="+493055501234",
)
PARCEL = Parcel(
    weight=Decimal("2.5"),
    weight_unit=WeightUnit.LB,
    length=Decimal(12),
    width=Decimal(9),
    height=Decimal(4),
    dimension_unit=DimensionUnit.IN,
)
CUSTOMS = Customs(
    items=(
        CustomsItem(
            description="Cotton T-shirt",
            quantity=2,
            value=1500,
            currency="USD",
            weight=Decimal("0.3"),
            origin_country="US",
            hs_code="610910",
        ),
    )
)


def rate_request(**overrides: object) -> RateRequest:
    values: dict = {
        "from_address": SHIPPER,
        "to_address": RECIPIENT,
        "parcels": (PARCEL,),
    }
    values.update(overrides)
    return RateRequest(**values)


def international_rate_request() -> RateRequest:
    return rate_request(to_address=ABROAD, customs=CUSTOMS)


def label_request(service_code: str, **overrides: object) -> LabelRequest:
    values: dict = {
        "from_address": SHIPPER,
        "to_address": RECIPIENT,
        "parcels": (PARCEL,),
        "service_code": service_code,
        "idempotency_key": uuid.uuid4().hex,
        "reference": "shp_contract",
        "label_format": LabelFormat.PDF,
    }
    values.update(overrides)
    return LabelRequest(**values)


def track_request(number: str) -> TrackRequest:
    return TrackRequest(tracking_number=number)


# What every carrier refuses before a call, and the field the refusal names.
INVALID_REQUESTS = {
    "parcels[0].weight": rate_request(parcels=(replace(PARCEL, weight=Decimal(0)),)),
    "to_address.postal_code": rate_request(
        to_address=replace(RECIPIENT, postal_code="")
    ),
    "customs.items": rate_request(to_address=ABROAD),
    # A US state that names none (invalid_state; a name is sent as its code).
    "to_address.state_code": rate_request(
        to_address=replace(RECIPIENT, state_code="Ontario")
    ),
    "parcels": rate_request(parcels=()),
}


def invalid_request(rsps: object, account: ProviderAccount) -> dict:
    """The ``invalid_request`` scenario: nothing to arrange, since nothing
    may be sent; the check runs every entry of ``INVALID_REQUESTS``."""
    return INVALID_REQUESTS


# What a carrier's edge serves when its label store fails: a label made, its
# file not a label (label_garbled_file).
GARBLED_FILE = b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"


def garbled_base64() -> str:
    return base64.b64encode(GARBLED_FILE).decode()


def cut_base64(encoded: str) -> str:
    """A base64 file cut to its first half: a label file that stopped short."""
    data = base64.b64decode(encoded)
    return base64.b64encode(data[: len(data) // 2]).decode()
