"""An order's currency as the ERP's own record: TradeGecko's ``currency_id``,
NetSuite's currency reference. Without it each ERP reads the prices in its
default (or the vendor's) currency. Looked up by ISO code and kept an hour
in the shared response cache; a code the ERP has no currency for is refused
(``unknown_currency``, stored on the order for staff), never sent bare."""

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from integrations import money
from integrations.errors import ProviderError, Rejected
from integrations.response_cache import fingerprint, forget, get_or_compute

# A currency compare that could not be made though the ERP answered with the
# order: no such currency there, or only an inactive one (NetSuite), its
# currencies unreadable (NetSuite) or their list cut (TradeGecko).
UNCOMPARED_CODES = frozenset(
    {
        "unknown_currency",
        "inactive_currency",
        "currency_unreadable",
        "currency_lookup_cut",
    }
)

# Currencies are set up once per ERP; an hour bounds how long one deleted
# there keeps being sent (the ERP then refuses the order).
CURRENCY_TTL_SECONDS = 3600
# Within one run over many orders (``one_run``): the look-ups the ERP
# refused, by account, ERP host and code; None outside a run.
_REFUSED_IN_RUN: ContextVar[dict[str, ProviderError] | None] = ContextVar(
    "erp_currency_refused_in_run", default=None
)


def currency_ref(
    adapter: Any, currency: str, look_up: Callable[[str], str | None]
) -> str:
    """The ERP's id of ``currency`` (ISO 4217): ``look_up(code)`` asks the
    ERP (None: it has none), its answer kept per account and ERP host; a
    refusal is not kept, so a currency staff add is found on the next send
    (within ``one_run``, only for the run)."""
    try:
        code = money.validate_currency(currency)
    except money.MoneyError as error:
        raise Rejected(str(error), code="unknown_currency") from None

    def ask() -> str:
        found = look_up(code)
        if not found:
            raise Rejected(
                f"{adapter.display_name} has no currency {code}: add it there "
                "(or correct the order's currency), then send the order again",
                code="unknown_currency",
            )
        return found

    key = _ref_key(adapter, code)
    refused = _REFUSED_IN_RUN.get()
    if refused is not None and key in refused:
        raise copy.copy(refused[key])  # a fresh one: no traceback piled up
    try:
        return str(
            get_or_compute("erp_currency", key, ttl=CURRENCY_TTL_SECONDS, compute=ask)
        )
    except ProviderError as error:
        if refused is not None and _answered_refused(error):
            refused[key] = error
        raise


@contextmanager
def one_run() -> Iterator[None]:
    """A run over many orders (the refresh schedule, the currency audit):
    a currency look-up the ERP answered with a refusal is asked once per
    account and code, that refusal raised again for the run's other orders
    (TradeGecko's whole list, NetSuite's SuiteQL, else asked per order).
    Never kept past the run: staff may add the currency meanwhile."""
    token = _REFUSED_IN_RUN.set({})
    try:
        yield
    finally:
        _REFUSED_IN_RUN.reset(token)


def _answered_refused(error: ProviderError) -> bool:
    # The ERP's answer, the same for every order: a refusal (no such
    # currency, NetSuite not exposing its currencies) or a list cut. Not a
    # failure to ask (rate-limited, unreachable), which the next may pass.
    return isinstance(error, Rejected) or error.code in UNCOMPARED_CODES


def forget_currency_ref(adapter: Any, currency: str) -> None:
    """The kept id of ``currency`` dropped: the next order looks it up."""
    forget("erp_currency", _ref_key(adapter, money.validate_currency(currency)))


def _ref_key(adapter: Any, code: str) -> str:
    # The ERP's host too: NetSuite numbers currencies per company, and an
    # account pointed at another company must not send the old one's ids.
    return fingerprint(
        account=adapter.account.pk,
        provider=adapter.code,
        host=adapter.base_url,
        code=code,
    )


class HeldInAnotherCurrency(Rejected):
    """The ERP holds the order (an upsert it applied, or one found by our id)
    in another currency than the order's: refused for staff. The order is
    there, so a send again reads it by our id, never upserts over it."""

    default_code = "currency_mismatch"


def held_check(
    adapter: Any,
    request: Any,
    shown: str | None,
    wanted: str,
    *,
    cancelled: bool,
    then: str = "then send the order again",
) -> None:
    """Refused for staff: the ERP holds ``request``'s order in its currency
    ``shown``, not ``wanted`` (the ERP's id of the order's currency), as a
    read-back or an order found by id or by our id shows. None shown (an
    ERP account booking in one currency) passes; so does an order cancelled
    there (nothing to receive or pay): recorded cancelled, never refused
    for ever. ``then``: what staff do once it is corrected there."""
    if shown is None or shown == wanted or cancelled:
        return
    name = adapter.display_name
    raise HeldInAnotherCurrency(
        f"{name} holds the order in currency record {shown}, not "
        f"{request.currency}'s ({wanted}); a send does not change it: "
        f"correct it in {name} (or cancel it there), {then}",
        code="currency_mismatch",
    )


def is_mismatch(error: ProviderError) -> bool:
    """Whether ``error`` says the order is (or would be) held in another
    currency than ours: ``HeldInAnotherCurrency``, or a NetSuite account
    stating a single other currency (``netsuite_currency``)."""
    return error.code == "currency_mismatch"


class CurrencyNotLookedUp(ProviderError):
    """The ERP answered with the order staff found, but the look-up of its
    currency after it failed (rate-limited, refused, unreachable): not "the
    ERP could not be asked". The ERP's own error's outcome and code kept."""


@contextmanager
def looked_up_after_the_order() -> Iterator[None]:
    """Around an order's currency look-up once the ERP answered with the
    order: an error of the look-up itself is raised as CurrencyNotLookedUp;
    the compare's own answers (a mismatch, ``UNCOMPARED_CODES``) as they are."""
    try:
        yield
    except ProviderError as error:
        if is_mismatch(error) or error.code in UNCOMPARED_CODES:
            raise
        raise CurrencyNotLookedUp(
            error.message,
            code=error.code,
            http_status=error.http_status,
            retry_after=error.retry_after,
            provider_code=error.provider_code,
            outcome=error.outcome,
        ) from error
