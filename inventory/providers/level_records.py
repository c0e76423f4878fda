"""Levels as an ERP reports them, held to what our columns store: the
record, the checks every page and event passes through when it is built
(``level_problem``, ``storable_levels``, ``readable_levels``, ``whole_units``)
and the order of ERP modification times (``modified_before``). Split from
``base`` (the adapter contract), which re-exports every public name here."""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from django.db import models

from integrations.clock import database_now
from integrations.webhooks.messages import EARLIEST_TIME, LATEST_TIME, storable
from inventory.models import Location, StockLevel

# The name it had in ``base``: the clock warning stays where operators
# (and tests) filter for it.
logger = logging.getLogger("inventory.providers.base")


@dataclass(frozen=True)
class StockLevelRecord:
    """One SKU at one location as the ERP reports it."""

    sku: str
    location_code: str
    on_hand: int
    # The ERP's last-modified time for this level; None when it keeps none.
    modified_at: datetime | None = None
    # False: the ERP still has the stock but took the item off sale (on_hand
    # 0 here). Not a figure of the ERP's: units sold here that it does not
    # show yet stay booked as such (inventory.services.apply).
    for_sale: bool = True


@dataclass(frozen=True)
class RejectedLevel:
    """A level the ERP reported that our stock levels cannot hold (a number
    beyond the column, a code too long or with a NUL): left out of its page
    or event and shown to staff. Printable and short, safe to store."""

    sku: str
    location_code: str
    reason: str


@cache
def _columns() -> tuple[tuple[str, models.Field], ...]:
    """The record's attributes and the model fields they are stored in."""
    return (
        ("sku", StockLevel._meta.get_field("sku")),
        ("location_code", Location._meta.get_field("code")),
        ("on_hand", StockLevel._meta.get_field("on_hand")),
    )


@cache
def _int_range(field: models.Field) -> tuple[float, float]:
    # The database's range for the column, as the field's own validators say.
    low, high = float("-inf"), float("inf")
    for validator in field.validators:
        if isinstance(validator, MinValueValidator):
            low = max(low, validator.limit_value)
        elif isinstance(validator, MaxValueValidator):
            high = min(high, validator.limit_value)
    return low, high


def _fits(field: models.Field, value: object) -> bool:
    """The fast check of ``field.clean`` for the columns above."""
    if isinstance(field, models.CharField):
        # storable: no NUL and no lone surrogate, which no text column holds.
        return (
            isinstance(value, str)
            and 0 < len(value) <= field.max_length
            and storable(value) == value
        )
    low, high = _int_range(field)
    return type(value) is int and low <= value <= high


# Units beyond any stock: the column holds ±2^31, and our figure subtracts
# units sold and reserved from the ERP's, which must not overflow it.
MAX_STOCK_FIGURE = 10**9


# How far ahead of ours an ERP's clock may run unremarked: times later than
# now + this are counted in a warning (a fast clock, local time labelled UTC).
CLOCK_SKEW = timedelta(minutes=5)
# Further ahead than any clock or time zone error (zones reach +14 h): a data
# bug (year 3000). A stored time past now + this orders only incoming times
# as far ahead, so a credible figure repairs the level it would freeze.
FAR_FUTURE = timedelta(days=1)


def modified_before(
    incoming: datetime | None, stored: datetime | None, now: datetime
) -> bool:
    """Whether a figure stamped ``incoming`` is older than the one stored,
    stamped ``stored`` (either None: not older). The ERP's own order, even
    when its clock runs ahead of ours by a constant; only a stored time past
    now + FAR_FUTURE gives way to an incoming one that is not."""
    if incoming is None or stored is None or incoming >= stored:
        return False
    horizon = now + FAR_FUTURE
    return stored <= horizon or incoming > horizon


def _time_problem(value: object) -> str | None:
    # timestamptz stores years past 9999 in UTC (an aware 9999-12-31T23:59
    # -12:00 is one); psycopg cannot read them back: every read would fail.
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        return "modified_at: not an aware time"
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        return "modified_at: outside years 1 to 9999 in UTC"
    # A day's margin: shown in a local time zone it must not overflow either.
    if not EARLIEST_TIME <= in_utc <= LATEST_TIME:
        return "modified_at: outside years 1 to 9999 in UTC"
    return None


def level_problem(record: StockLevelRecord) -> str | None:
    """Why our columns cannot hold ``record`` (None when they can), by the
    limits of the model fields its values are stored in."""
    for attribute, field in _columns():
        value = getattr(record, attribute)
        if _fits(field, value):
            continue
        try:
            if isinstance(value, str):  # no text column of PostgreSQL holds NUL
                ProhibitNullCharactersValidator()(value)
            field.clean(value, None)
        except ValidationError as error:
            return f"{attribute}: {' '.join(error.messages)}"[:200]
        return f"{attribute}: not a value the column holds"
    if abs(record.on_hand) > MAX_STOCK_FIGURE:
        return f"on_hand: beyond ±{MAX_STOCK_FIGURE:,} units"
    return _time_problem(record.modified_at)


def _printable(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    # Kept in the run's errors (jsonb): what it cannot store is replaced.
    return storable(text.replace("\x00", "\\x00"))[:64]


def storable_levels(
    records: Iterable[StockLevelRecord],
) -> tuple[tuple[StockLevelRecord, ...], tuple[RejectedLevel, ...]]:
    """``records`` split into those our columns hold and those they cannot."""
    kept, rejected = [], []
    for record in records:
        problem = level_problem(record)
        if problem is None:
            kept.append(record)
            continue
        rejected.append(
            RejectedLevel(
                sku=_printable(record.sku),
                location_code=_printable(record.location_code),
                reason=problem,
            )
        )
    _warn_ahead(kept)
    return tuple(kept), tuple(rejected)


def _warn_ahead(records: list[StockLevelRecord]) -> None:
    # Kept (they order the ERP's figures among themselves), but a clock
    # running fast is worth one line per page or event, not one per level.
    stamped = [r for r in records if r.modified_at is not None]
    if not stamped:
        return
    # Ahead of the database's clock, which our stamps are compared by.
    ahead = database_now() + CLOCK_SKEW
    late = [r for r in stamped if r.modified_at > ahead]
    if late:
        logger.warning(
            "inventory level modification times ahead of our clock",
            extra={
                "count": len(late),
                "sku": _printable(late[0].sku),
                "location": _printable(late[0].location_code),
                "modified_at": late[0].modified_at.isoformat(),
            },
        )


class UnreadableLevel(Exception):
    """One level of an ERP's answer that cannot be read as a record (a
    fractional quantity, no location): raised by an adapter's row parser,
    caught by ``readable_levels``; it never leaves the adapter."""

    def __init__(self, reason: str, *, sku: object = "", location_code: object = ""):
        super().__init__(reason)
        self.reason, self.sku, self.location_code = reason, sku, location_code


def whole_units(
    value: object, *, field: str, sku: object, location_code: object
) -> int:
    """An ERP's decimal quantity (a string or number; None or "" is 0) as a
    whole number of units; ``UnreadableLevel`` when it is not one ("2.5", an
    item sold by weight: not ours to round) or is beyond MAX_STOCK_FIGURE.
    The bound is checked on the decimal: int() of '1E+1000000' would build a
    million-digit integer (40 s of CPU) for level_problem to refuse."""
    try:
        number = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number != number.to_integral_value():
        raise UnreadableLevel(
            f"{field}: not a whole number", sku=sku, location_code=location_code
        )
    if number.copy_abs() > MAX_STOCK_FIGURE:  # no context: exact and cheap
        raise UnreadableLevel(
            f"{field}: beyond ±{MAX_STOCK_FIGURE:,} units",
            sku=sku,
            location_code=location_code,
        )
    return int(number)


def readable_levels(
    parse: Callable[[Any], StockLevelRecord], rows: Iterable[Any]
) -> tuple[tuple[StockLevelRecord, ...], tuple[RejectedLevel, ...]]:
    """Each row ``parse``d; one it refuses (``UnreadableLevel``) is a
    rejected level, so it fails neither its page nor its event."""
    records, rejected = [], []
    for row in rows:
        try:
            records.append(parse(row))
        except UnreadableLevel as refusal:
            rejected.append(
                RejectedLevel(
                    sku=_printable(refusal.sku),
                    location_code=_printable(refusal.location_code),
                    reason=refusal.reason[:200],  # our own text
                )
            )
    return tuple(records), tuple(rejected)


def without_rejected(container: object, field: str) -> None:
    """Move the levels our columns cannot hold from ``container.<field>`` to
    its ``rejected``: every page and event any adapter builds passes here,
    so one bad level never fails its page, its event or a sync."""
    kept, rejected = storable_levels(getattr(container, field))
    # Frozen dataclasses: set once, while the instance is being built.
    object.__setattr__(container, field, kept)
    object.__setattr__(container, "rejected", (*container.rejected, *rejected))
