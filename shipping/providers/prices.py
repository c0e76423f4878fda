"""A carrier's money, read so that one bad figure costs one rate, not the shop.

``BaseAdapter.from_provider_decimal`` refuses an amount that is not exact in
its currency or beyond ``money.max_amount`` (``UnusableAmount``). For rates
that is one service's price: ``keep_priced`` drops that rate with a log line
and keeps the carrier's others, and a price that is not positive is dropped
the same way. A label's billed amount is only information about a label
already bought: an unusable one is recorded as unknown (None), never raised.
``ShippingAdapter`` exposes these as methods; this module keeps them out of
its size.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from integrations import money
from integrations.errors import UnusableAmount

if TYPE_CHECKING:
    from shipping.providers.base import Rate, ShippingAdapter

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

NOT_POSITIVE = "carrier quoted a price that is not positive"


def rate_price(adapter: "ShippingAdapter", value: object, currency: str) -> int | None:
    """A quoted price in minor units; None when the carrier sent none.
    ``UnusableAmount`` when it is unreadable, out of range or not positive."""
    amount = adapter.from_provider_decimal(value, currency)
    if amount is not None and amount <= 0:
        raise UnusableAmount(NOT_POSITIVE)
    return amount


def checked_rate(rate: "Rate") -> "Rate":
    """``rate`` itself when its amount is a price its currency allows; the
    last word for every adapter, whatever it computed its amount from."""
    if rate.amount <= 0:
        raise UnusableAmount(NOT_POSITIVE)
    try:
        money.check_limit(rate.amount, rate.currency)
        # The ISO code the money helpers read ("usd" is USD): one currency.
        return replace(rate, currency=money.validate_currency(rate.currency))
    except money.MoneyError:
        raise UnusableAmount("carrier quoted a price out of range") from None


def keep_priced(
    adapter: "ShippingAdapter", items: Iterable[T], read: Callable[[T], R | None]
) -> list[R]:
    """``read(item)`` for each item of a carrier's answer, Nones left out. An
    item whose price is unusable is dropped (logged) and the others kept;
    when every item read was unusable the carrier answered nothing we can
    sell, and that ``UnusableAmount`` is the answer (a failure for this
    carrier alone, never an empty "serves nothing")."""
    kept: list[R] = []
    refused: UnusableAmount | None = None
    for item in items:
        try:
            value = read(item)
        except UnusableAmount as error:
            refused = refused or error
            logger.warning(
                "carrier rate dropped: unusable price",
                extra={
                    "account": adapter.account.slug,
                    "provider": adapter.code,
                    "reason": error.message,
                },
            )
            continue
        if value is not None:
            kept.append(value)
    if refused is not None and not kept:
        raise refused
    return kept


def billed_amount(
    adapter: "ShippingAdapter", value: object, currency: str
) -> int | None:
    """What the carrier says a bought label cost; None when it said nothing
    usable (unreadable, out of range, negative), logged: the label stands."""
    try:
        amount = adapter.from_provider_decimal(value, currency)
    except UnusableAmount:
        return _unknown_bill(adapter)
    if amount is not None and amount < 0:
        return _unknown_bill(adapter)
    return amount


def _unknown_bill(adapter: "ShippingAdapter") -> None:
    logger.warning(
        "carrier billed amount unusable: recorded as unknown",
        extra={"account": adapter.account.slug, "provider": adapter.code},
    )
