"""Rate shopping: every enabled shipping account quoted at once, each under
its own deadline, the answer kept by request fingerprint for a few minutes.

The fan-out (``integrations.fanout.run_on_accounts``) returns every rate and
one failure per carrier that failed, timed out or has an open breaker. Each
rate becomes a ``RateQuote`` row, buyable by its public id until it expires;
the cached answer names those rows, so a repeat within the cache's time to
live answers without calling anyone and its quotes are still buyable. An
answer in which any carrier failed other than by refusing is not cached:
the repeat asks every carrier again. A carrier that cannot take the request
(a limit of its own: a parcel too heavy, a field too long) is refused before
anything is sent to it and listed with our words for why; when every carrier
asked refused so, the first refusal is raised (a 400 naming the field).
"""

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings

from integrations.clock import database_now
from integrations.errors import Outcome
from integrations.fanout import AccountFailure, FanOutResult, run_on_accounts
from integrations.models import ProviderAccount
from integrations.response_cache import fingerprint, get_or_compute
from integrations.secrets_registry import staff_text
from shipping import codec
from shipping.models import RateQuote
from shipping.providers.base import CarrierLimits, Quoted, Rate, RateRequest
from shipping.providers.validation import (
    MAX_SHIP_DAYS_AHEAD,
    InvalidShippingRequest,
    check_date,
    check_shipment,
)
from shipping.services.errors import public_refusal

logger = logging.getLogger(__name__)

CACHE_NAMESPACE = "shipping-rates"


@dataclass(frozen=True)
class QuoteEntry:
    quote_id: str
    account: str  # slug
    account_name: str
    carrier: str
    service_code: str
    service_name: str
    amount: int
    currency: str
    estimated_delivery: str | None  # ISO date
    transit_days: int | None
    expires_at: str  # ISO time
    duration_ms: int  # how long its carrier took
    cheapest: bool = False
    fastest: bool = False


@dataclass(frozen=True)
class CarrierFailure:
    account: str
    account_name: str
    provider: str
    reason: str  # timeout, breaker_open, error
    outcome: str
    code: str
    message: str
    duration_ms: int
    # The field our own check of the carrier's limits refused (the 400's
    # ``param`` when no carrier can take it); None for any other failure.
    param: str | None = None
    # The one service left out (a phone its label requires), the carrier's
    # others quoted; None: the whole carrier failed.
    service_code: str | None = None


@dataclass(frozen=True)
class RateShopResult:
    fingerprint: str
    # Grouped by currency (in ``currencies`` order), each group cheapest
    # first, ties by earlier delivery. Amounts are never converted.
    quotes: tuple[QuoteEntry, ...]
    failures: tuple[CarrierFailure, ...]
    cached: bool = False
    currencies: tuple[str, ...] = ()


def rates_shop(
    *, request: RateRequest, deadline_seconds: float | None = None
) -> RateShopResult:
    """Quote every enabled shipping account for ``request``; raises
    ``InvalidShippingRequest`` (naming the field) before calling anyone."""
    check_shipment(
        request.from_address,
        request.to_address,
        request.parcels,
        request.customs,
        limits=CarrierLimits(),
    )
    check_date(request.ship_date, "ship_date", MAX_SHIP_DAYS_AHEAD)
    deadline = deadline_seconds or settings.SHIPPING_RATE_DEADLINE_SECONDS
    key = fingerprint(
        request=codec.request_to_json(request), only=request.service_codes
    )
    computed = threading.Event()

    def compute() -> RateShopResult:
        computed.set()
        result = _shop(request, key, deadline)
        if _incomplete(result):
            raise _NotKept(result)  # what compute raises is not stored
        return result

    try:
        result = get_or_compute(
            CACHE_NAMESPACE,
            key,
            ttl=_cache_ttl(),
            compute=compute,
            as_type=RateShopResult,
        )
    except _NotKept as answer:
        return answer.result
    return result if computed.is_set() else replace(result, cached=True)


class _NotKept(Exception):
    # Carries an answer past get_or_compute, which stores nothing compute raises.
    def __init__(self, result: RateShopResult) -> None:
        super().__init__("rate answer not cached")
        self.result = result


def _incomplete(result: RateShopResult) -> bool:
    """A carrier failed for now (timed out, unreachable, breaker open, an
    answer lost or unreadable): the shop's retry must ask again, not get
    this answer back for minutes. A refusal is the carrier's answer: kept."""
    return any(f.outcome != Outcome.REJECTED for f in result.failures)


def _cache_ttl() -> int:
    # A cached answer must never name a quote that has already expired.
    return max(
        1,
        min(
            settings.SHIPPING_RATE_CACHE_SECONDS,
            settings.SHIPPING_QUOTE_TTL_SECONDS - 60,
        ),
    )


def _shop(request: RateRequest, key: str, deadline: float) -> RateShopResult:
    durations: dict[int, int] = {}
    # Per account, the request its carrier cannot take (a limit of its own),
    # refused before any call: left out with our words for it.
    refused: dict[int, InvalidShippingRequest] = {}
    left_out: dict[int, Quoted] = {}

    def quote(adapter: object) -> list[Rate]:
        started = time.monotonic()
        try:
            quoted = adapter.quoted(request)  # type: ignore[attr-defined]
            left_out[adapter.account.pk] = quoted  # type: ignore[attr-defined]
            return quoted.rates
        except InvalidShippingRequest as exc:
            refused[adapter.account.pk] = exc  # type: ignore[attr-defined]
            raise
        finally:
            elapsed = int((time.monotonic() - started) * 1000)
            durations[adapter.account.pk] = elapsed  # type: ignore[attr-defined]

    fanned: FanOutResult[list[Rate]] = run_on_accounts(
        "shipping", quote, operation_name="rates", deadline_seconds=deadline
    )
    _refuse_if_none_can(fanned, refused)
    accounts = {a.pk: a for a in ProviderAccount.objects.filter(kind="shipping")}
    quotes = _store_quotes(request, key, fanned, accounts)
    failures = tuple(
        _failure(f, accounts, durations, deadline, refused.get(f.account_id))
        for f in fanned.failures
    ) + _services_left_out(fanned, left_out, accounts)
    currencies = tuple(dict.fromkeys(q.currency for q in quotes))
    logger.info(
        "rates shopped",
        extra={
            "quotes": len(quotes),
            "failures": len(failures),
            "currencies": len(currencies),
        },
    )
    return RateShopResult(
        fingerprint=key, quotes=quotes, failures=failures, currencies=currencies
    )


def _refuse_if_none_can(
    fanned: FanOutResult[list[Rate]], refused: dict[int, InvalidShippingRequest]
) -> None:
    """Every carrier asked refused the request as beyond a limit of its own
    (a field too long, a parcel too heavy): the first one's refusal is the
    answer, a 400 naming the field, as at a single carrier."""
    failures = fanned.failures
    if fanned.results or not failures:
        return
    if all(failure.account_id in refused for failure in failures):
        raise refused[failures[0].account_id]


def _store_quotes(
    request: RateRequest,
    key: str,
    fanned: FanOutResult[list[Rate]],
    accounts: dict[int, ProviderAccount],
) -> tuple[QuoteEntry, ...]:
    expires = database_now() + timedelta(seconds=settings.SHIPPING_QUOTE_TTL_SECONDS)
    stored_request = codec.request_to_json(request)
    rows = []
    for answer in fanned.results:
        for rate in answer.result:
            row = RateQuote(
                fingerprint=key,
                account=accounts[answer.account_id],
                carrier=rate.carrier,
                service_code=rate.service_code,
                service_name=rate.service_name,
                amount=rate.amount,
                currency=rate.currency,
                estimated_delivery=rate.estimated_delivery,
                transit_days=rate.transit_days,
                carrier_rate_id=rate.carrier_rate_id,
                extra=dict(rate.extra),
                request=stored_request,
                expires_at=expires,
            )
            rows.append((row, answer.duration_ms))
    RateQuote.objects.bulk_create([row for row, _ in rows])
    return _ranked([_entry(row, ms) for row, ms in rows])


def _entry(row: RateQuote, duration_ms: int) -> QuoteEntry:
    return QuoteEntry(
        quote_id=row.public_id,
        account=row.account.slug,
        account_name=row.account.display_name,
        carrier=row.carrier,
        service_code=row.service_code,
        service_name=row.service_name,
        amount=row.amount,
        currency=row.currency,
        estimated_delivery=(
            row.estimated_delivery.isoformat() if row.estimated_delivery else None
        ),
        transit_days=row.transit_days,
        expires_at=row.expires_at.isoformat(),
        duration_ms=duration_ms,
    )


def _ranked(entries: list[QuoteEntry]) -> tuple[QuoteEntry, ...]:
    """Grouped by currency (the one most carriers quote in first, then by
    code), each group cheapest first, ties by earlier delivery: amounts in
    different currencies are never compared. Marks the cheapest of each
    currency and one fastest (earliest delivery, then fewest days, then the
    first group's price)."""
    never = "9999-12-31"
    if not entries:
        return ()
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.currency] = counts.get(entry.currency, 0) + 1
    order = {c: i for i, c in enumerate(sorted(counts, key=lambda c: (-counts[c], c)))}
    entries.sort(
        key=lambda e: (order[e.currency], e.amount, e.estimated_delivery or never)
    )
    fastest = min(
        entries,
        key=lambda e: (
            e.estimated_delivery or never,
            e.transit_days or 99,
            order[e.currency],
            e.amount,
        ),
    )
    ranked, seen = [], set()
    for entry in entries:
        first_of_currency = entry.currency not in seen
        seen.add(entry.currency)
        ranked.append(
            replace(entry, cheapest=first_of_currency, fastest=entry is fastest)
        )
    return tuple(ranked)


def _failure(
    failure: AccountFailure,
    accounts: dict[int, ProviderAccount],
    durations: dict[int, int],
    deadline: float,
    refusal: InvalidShippingRequest | None = None,
) -> CarrierFailure:
    """``refusal``: ours, before any call (a limit of the carrier's): its
    message, our words naming the field and the limit, is the reason."""
    account = accounts.get(failure.account_id)
    if failure.reason == "timeout":
        took = int(deadline * 1000)
    else:
        took = durations.get(failure.account_id, 0)
    return CarrierFailure(
        account=failure.account,
        account_name=account.display_name if account else failure.account,
        provider=account.provider if account else "",
        reason=str(failure.reason),
        outcome=failure.outcome,
        code=failure.code,
        message=refusal.message if refusal is not None else _said(failure),
        duration_ms=took,
        param=refusal.param if refusal is not None else None,
    )


def _services_left_out(
    fanned: FanOutResult[list[Rate]],
    quoted: dict[int, Quoted],
    accounts: dict[int, ProviderAccount],
) -> tuple[CarrierFailure, ...]:
    """A failure per service a carrier offered that the request cannot buy
    (``Quoted.left_out``), with our refusal: its others are quoted."""
    failures = []
    for answer in fanned.results:
        account = accounts[answer.account_id]
        for rate, refusal in quoted[answer.account_id].left_out:
            failures.append(
                CarrierFailure(
                    account=account.slug,
                    account_name=account.display_name,
                    provider=account.provider,
                    reason="error",
                    outcome=Outcome.REJECTED,
                    code=refusal.code,
                    message=refusal.message,
                    duration_ms=answer.duration_ms,
                    param=refusal.param,
                    service_code=rate.service_code,
                )
            )
    return tuple(failures)


def _said(failure: AccountFailure) -> str:
    """Our words for a failure: a timeout's and an open breaker's are ours
    already; a carrier's own text may quote what we sent (issue 17, 3), so it
    goes to the log for staff only."""
    if failure.reason != "error":
        return failure.message
    logger.info(
        "carrier did not quote",
        extra={
            "account": failure.account,
            "code": failure.code,
            "carrier_text": staff_text(failure.message)[:255],
        },
    )
    if failure.outcome == Outcome.REJECTED:
        return public_refusal(failure.code, "to quote")
    return "the carrier did not answer; nothing was quoted"
