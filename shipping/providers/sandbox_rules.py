"""The sandbox carrier's rules: prices by zone, weight and service, and a
tracking history that advances with time. Pure functions of the request (and
of the label's creation time, which the tracking number carries), so every
process and every run answers the same."""

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from shipping.providers.base import Address, Rate, RateRequest
from shipping.providers.tracking_types import (
    TrackingEvent,
    TrackingInfo,
    TrackingStatus,
)
from shipping.units import WeightUnit

# Test inputs (the to-address's postcode).
INVALID_POSTCODE = "00000"  # the carrier refuses the address
EXCEPTION_POSTCODE = "99999"  # the parcel fails delivery, then goes back

_EU = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR"}
    | {"HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI"}
    | {"SK"}
)
_NORTH_AMERICA = frozenset({"US", "CA", "MX"})
_ZONE_FACTOR = {
    1: Decimal("1"),
    2: Decimal("1.2"),
    3: Decimal("1.6"),
    4: Decimal("2.4"),
}


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    base: int  # minor units
    per_kg: int  # minor units per started kilogram
    max_zone: int  # not offered beyond


SERVICES = (
    Service("SBX_GROUND", "Sandbox Ground", 500, 100, 4),
    Service("SBX_EXPRESS", "Sandbox Express", 1200, 250, 4),
    Service("SBX_OVERNIGHT", "Sandbox Overnight", 2500, 400, 2),
)
SERVICE_CODES = frozenset(service.code for service in SERVICES)


def zone(origin: Address, destination: Address) -> int:
    """1 same region, 2 same country, 3 same trade area, 4 elsewhere."""
    if origin.country_code == destination.country_code:
        same_region = origin.postal_code[:1] == destination.postal_code[:1]
        return 1 if same_region else 2
    pair = {origin.country_code, destination.country_code}
    if pair <= _EU or pair <= _NORTH_AMERICA:
        return 3
    return 4


def transit_days(service: Service, zone_number: int) -> int:
    if service.code == "SBX_OVERNIGHT":
        return 1
    if service.code == "SBX_EXPRESS":
        return max(1, zone_number - 1)
    return 1 + zone_number


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def price(
    service: Service, kilograms: Decimal, zone_number: int, factor: Decimal
) -> int:
    started_kg = max(1, math.ceil(kilograms))
    raw = Decimal(service.base + service.per_kg * started_kg)
    total = raw * _ZONE_FACTOR[zone_number] * factor
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def quote(
    request: RateRequest, *, currency: str, factor: Decimal, today: date
) -> list[Rate]:
    """Every service the sandbox offers for the request."""
    zone_number = zone(request.from_address, request.to_address)
    kilograms = sum(
        (parcel.weight_in(WeightUnit.KG) for parcel in request.parcels), Decimal(0)
    )
    ship_date = request.ship_date or today
    rates = []
    for service in SERVICES:
        if zone_number > service.max_zone:
            continue
        days = transit_days(service, zone_number)
        rates.append(
            Rate(
                carrier="sandbox",
                service_code=service.code,
                service_name=service.name,
                amount=price(service, kilograms, zone_number, factor),
                currency=currency,
                estimated_delivery=add_business_days(ship_date, days),
                transit_days=days,
                extra={"zone": str(zone_number)},
            )
        )
    return rates


# --- Tracking numbers and their history --------------------------------------

# SBX + flag (N normal, X exception) + the label's creation (epoch seconds) +
# 8 hex digits of the idempotency key: the history needs no stored state.
_NUMBER = re.compile(r"^SBX([NX])(\d{10})([0-9A-F]{8})$")

_NORMAL = (
    (0, TrackingStatus.PRE_TRANSIT, "LC", "Label created"),
    (1, TrackingStatus.IN_TRANSIT, "PU", "Picked up"),
    (2, TrackingStatus.IN_TRANSIT, "AR", "Arrived at sort facility"),
    (3, TrackingStatus.OUT_FOR_DELIVERY, "OD", "Out for delivery"),
    (4, TrackingStatus.DELIVERED, "DL", "Delivered"),
)
_EXCEPTION = (
    *_NORMAL[:3],
    (3, TrackingStatus.EXCEPTION, "EX", "Delivery attempt failed: address problem"),
    (5, TrackingStatus.RETURNED, "RS", "Returned to sender"),
)

# Scans in the longest plan: a label announced this many times is finished.
MAX_EVENTS = max(len(_NORMAL), len(_EXCEPTION))
# A week a scan at most: an unbounded step put later scans past year 9999
# (OverflowError on every poll); a larger stored one is read as this.
MAX_STEP_SECONDS = 7 * 24 * 3600


def tracking_number(*, created_at: datetime, key: str, exception: bool) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:8].upper()
    flag = "X" if exception else "N"
    return f"SBX{flag}{int(created_at.timestamp()):010d}{digest}"


def parse_number(number: str) -> tuple[datetime, bool] | None:
    """(creation time, exception?) of a sandbox number, None if not one."""
    match = _NUMBER.match(number)
    if match is None:
        return None
    created = datetime.fromtimestamp(int(match.group(2)), tz=UTC)
    return created, match.group(1) == "X"


def history(
    number: str, *, now: datetime, step_seconds: int, location: str
) -> TrackingInfo | None:
    """What has happened to the parcel by ``now``; None for an unknown number."""
    parsed = parse_number(number)
    if parsed is None:
        return None
    created, exception = parsed
    if created > now:
        return None
    step = timedelta(seconds=min(max(1, step_seconds), MAX_STEP_SECONDS))
    plan = _EXCEPTION if exception else _NORMAL
    events = tuple(
        TrackingEvent(
            status=status,
            occurred_at=created + step * offset,
            carrier_status_code=code,
            description=text,
            location=location if offset else "Origin facility",
        )
        for offset, status, code, text in plan
        if created + step * offset <= now
    )
    delivery = (created + step * plan[-1][0]).date()
    return TrackingInfo(
        tracking_number=number,
        status=events[-1].status,
        events=events,
        estimated_delivery=None if exception else delivery,
        signed_by="SANDBOX" if events[-1].status == TrackingStatus.DELIVERED else "",
    )
