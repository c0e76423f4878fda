"""A NetSuite purchase order's currency: the currency record whose ``symbol``
is the order's ISO 4217 code, looked up by SuiteQL through ``erp_currency``.
Oracle's SOAP ``getAll`` sample of the record answers ``symbol`` "USD"
beside ``displaySymbol`` "$": ``symbol`` is the ISO code (docs/providers/
inventory.md).

An account without the Multiple Currencies feature does not expose the
currency record (REST record "Currency": the feature is a prerequisite), and
SuiteQL refuses the look-up (400 ``INVALID_PARAMETER``, "Search error
occurred: Record 'currency' was not found."). A role without view permission
on currencies gets the same answer from a multi-currency account, where an
order sent without its currency is booked in the vendor's: so the field is
left out only when the account states its one currency (setting
``single_currency``) and it is the order's; a stated other currency is
``currency_mismatch``, none stated ``currency_unreadable``, both refused for
staff. With a currency stated that answer is kept an hour per account and
host as the ids are (unstated, not kept: staff may grant the permission).

The PUT itself can refuse the field (a role that may not set it, or an
account without the feature): an account stating the order's currency is
sent again once without it (same external id: one order), any other is
refused for staff (``currency_not_settable``, ``currency_mismatch``); one
read back in another currency record than looked up (the vendor's) is
``currency_mismatch`` too, nothing kept. An
order sent without it on the kept answer, read back with a currency, shows
the answer stale (Multiple Currencies turned on since): it is dropped, and
the order upserted again with the currency looked up afresh, and read back
again: NetSuite may apply that update and leave the order's currency, which
is ``currency_mismatch`` too. Every read-back is compared, the normal send's
too: an upsert that finds an order NetSuite already holds (keyed in there
under our id) keeps that order's currency. An order found by our external id
after a lost answer, or by its id by staff ("Found at the ERP"), is compared
the same way before it is recorded (``found_in_currency``), and so is every
later read of one recorded (the refresh, a send again's follow-back).
docs/providers/inventory.md."""

import logging
import re
from collections.abc import Callable
from typing import Any

from integrations import money
from integrations.errors import Rejected
from integrations.response_cache import fingerprint, forget, get_or_compute
from inventory.providers.base import PurchaseOrderRequest, PurchaseOrderStatus
from inventory.providers.erp_currency import (
    CURRENCY_TTL_SECONDS,
    HeldInAnotherCurrency,
    currency_ref,
    held_check,
)
from inventory.providers.netsuite_orders import ORDER_STATUSES

logger = logging.getLogger(__name__)

SINGLE_CURRENCY_SETTING = "single_currency"
SEND_AGAIN = "then send the order again"
# Straight or typographic quotes: public clients have met both in this answer.
_NOT_EXPOSED = re.compile(
    r"Record ['\u2018\u2019]currency['\u2018\u2019] was not found", re.IGNORECASE
)
_ID = re.compile(r"[0-9]{1,18}")
# "... set a value for element currency ...", "... for the following field: currency".
_FIELD_NAMED = re.compile(r"\b(?:element|field:?)\s+currency\b", re.IGNORECASE)
# A detail pointing at a sublist line: "line 2", "sublist item", "items[0]",
# "item.currency".
_ON_A_LINE = re.compile(r"\b(?:sublist|lines?)\b|\[[0-9]+\]|\w\.currency\b", re.I)
_KEPT = "netsuite_currency"
# A kept answer sending the order without the field, and the currency record
# NetSuite was seen booking such an order in (none yet: nothing after it).
WITHOUT = "without:"
# The currency records whose symbol is the code given (id, symbol, isinactive).
Rows = Callable[[str], list[dict[str, Any]]]


def order_currency(
    adapter: Any, request: PurchaseOrderRequest, rows: Rows
) -> str | None:
    """The currency record's id to set on the order, or None: the account
    does not expose its currencies and states the order's as its one."""
    kept, _ = _kept_answer(adapter, request, rows)
    return kept if _ID.fullmatch(kept) else None


def upsert_in_currency(
    adapter: Any,
    request: PurchaseOrderRequest,
    rows: Rows,
    put: Callable[[str | None], dict[str, Any]],
) -> dict[str, Any]:
    """The order upserted in its currency by ``put(currency_id)`` (None:
    without the field), which answers the record read back."""
    kept, fresh = _kept_answer(adapter, request, rows)
    currency = kept if _ID.fullmatch(kept) else None
    try:
        record = put(currency)
    except Rejected as error:
        if currency is None or not field_refused(error):
            raise
        _check_without_field(adapter, request)
        # The same external id: NetSuite's upsert, so still one order.
        record = put(None)
        shown = _record_currency(record)
        # Booked in the vendor's currency, another than the one looked up:
        # refused for staff, and nothing kept for the next orders.
        if shown is not None and shown != currency:
            raise _booked_in_another(shown, request.currency, currency) from None
        # Kept as a refused look-up is: the next order goes without at once.
        _keep_without(_kept_key(adapter, request), shown or "")
        return record
    if currency is None:
        return _booked_right(adapter, request, rows, put, (record, kept, fresh))
    # An upsert that found an order NetSuite held in another currency updates
    # its lines, not its currency: every read-back is compared.
    _held_check(adapter, request, record, currency)
    return record


def _booked_right(
    adapter: Any,
    request: PurchaseOrderRequest,
    rows: Rows,
    put: Callable[[str | None], dict[str, Any]],
    sent: tuple[dict[str, Any], str, bool],
) -> dict[str, Any]:
    """The order sent without the field, read back (``sent``: the record,
    the kept answer, whether it was looked up just now). Kept, it noted the
    currency NetSuite books such orders in: another shows it stale."""
    record, kept, fresh = sent
    shown = _record_currency(record)
    if shown is None or shown == kept.partition(":")[2]:
        return record
    key = _kept_key(adapter, request)
    if fresh:  # looked up just now: what the account books them in
        _keep_without(key, shown)
        return record
    forget(_KEPT, key)
    logger.info(
        "netsuite currency answer stale", extra={"account": adapter.account.slug}
    )
    again = order_currency(adapter, request, rows)
    if again is None:
        _keep_without(key, shown)
    elif again != shown:
        try:
            record = put(again)
        except Rejected as error:
            if not field_refused(error):
                raise
            # Left where the PUT without the field booked it.
            raise _booked_in_another(shown, request.currency, again) from None
        # An update NetSuite applied without changing the order's currency
        # leaves it in the vendor's: read back, compared again.
        _held_check(adapter, request, record, again)
    return record


def found_in_currency(
    adapter: Any,
    request: PurchaseOrderRequest,
    rows: Rows,
    record: dict[str, Any],
    then: str = SEND_AGAIN,
) -> dict[str, Any]:
    """The order found by our external id (a send whose answer was lost),
    or read again by its recorded id, checked to be in the order's currency
    before it is recorded or its status taken: one in another currency
    record than looked up is ``currency_mismatch`` (``then``: what staff do
    once it is corrected)."""
    shown = _record_currency(record)
    if shown is None:  # an account without Multiple Currencies shows none
        return record
    kept, fresh = _kept_answer(adapter, request, rows)
    if _ID.fullmatch(kept):
        _held_check(adapter, request, record, kept, then)
    elif shown != kept.partition(":")[2]:
        # Sent without the field: another record than such orders were seen
        # in shows the kept answer stale, as on a send (_booked_right).
        wanted = None
        if not fresh:
            forget(_KEPT, _kept_key(adapter, request))
            wanted = order_currency(adapter, request, rows)
        if wanted is None:
            _keep_without(_kept_key(adapter, request), shown)
        else:
            _held_check(adapter, request, record, wanted, then)
    return record


def _held_check(
    adapter: Any,
    request: PurchaseOrderRequest,
    record: dict[str, Any],
    wanted: str,
    then: str = SEND_AGAIN,
) -> None:
    """Refused for staff, nothing kept: the order read back in another
    currency record than ``wanted``, the one looked up for its currency
    (``held_check``, shared with TradeGecko)."""
    shown = _record_currency(record)
    try:
        held_check(
            adapter, request, shown, wanted, cancelled=_cancelled(record), then=then
        )
    except HeldInAnotherCurrency:
        forget(_KEPT, _kept_key(adapter, request))
        raise


def _kept_answer(
    adapter: Any, request: PurchaseOrderRequest, rows: Rows
) -> tuple[str, bool]:
    """The kept answer (a currency id, or WITHOUT and the id NetSuite books
    an order sent without the field in, if seen) and whether it was looked
    up just now; an order it cannot go in is refused."""
    stated = _stated(adapter)
    asked: list[bool] = []

    def look_up() -> str:
        asked.append(True)
        return _record_id(adapter, request.currency, rows, stated)

    kept = str(
        get_or_compute(
            _KEPT,
            _kept_key(adapter, request),
            ttl=CURRENCY_TTL_SECONDS,
            compute=look_up,
        )
    )
    if _ID.fullmatch(kept):
        return kept, bool(asked)
    if stated != request.currency.upper():
        raise _mismatch(stated, request.currency)
    logger.info(
        "netsuite order sent without currency",
        extra={"account": adapter.account.slug, "stated": stated},
    )
    return kept, bool(asked)


def _keep_without(key: str, shown: str) -> None:
    forget(_KEPT, key)
    get_or_compute(
        _KEPT, key, ttl=CURRENCY_TTL_SECONDS, compute=lambda: f"{WITHOUT}{shown}"
    )


def field_refused(error: Rejected) -> bool:
    """Whether NetSuite refused the order's ``currency`` field itself: named
    by ``o:errorPath`` when there is one, else in a detail that points at no
    sublist line."""
    if error.http_status != 400:
        return False
    path = str(getattr(error, "error_path", "") or "")
    if path:  # the path says whose field: a line's "currency" is not ours
        return re.split(r"[.\[]", path, maxsplit=1)[0] == "currency"
    # Without one, the detail's "field: currency" may still be a line's.
    message = error.message
    return bool(_FIELD_NAMED.search(message)) and not _ON_A_LINE.search(message)


def _check_without_field(adapter: Any, request: PurchaseOrderRequest) -> None:
    stated = _stated(adapter)
    if stated == request.currency.upper():
        return
    if stated:
        raise _mismatch(stated, request.currency)
    raise Rejected(
        "NetSuite refused the order's currency field: give the integration's "
        "role permission to set Currency on purchase orders, or, on an account "
        "without Multiple Currencies, set the account's single_currency to the "
        "one currency it books in; then send the order again",
        code="currency_not_settable",
    )


def _mismatch(stated: str, currency: str) -> Rejected:
    return Rejected(
        f"NetSuite books in {stated} only (no Multiple Currencies): an order "
        f"in {currency} would be booked as {stated}; correct the "
        "order's currency or the account's setting",
        code="currency_mismatch",
    )


def _booked_in_another(shown: str, code: str, wanted: str) -> Rejected:
    return HeldInAnotherCurrency(
        f"NetSuite booked the order in its currency record {shown}, not {code}'s "
        f"({wanted}): the integration's role may not set Currency on purchase "
        "orders, and sent without it the order takes the vendor's currency; "
        "correct the order in NetSuite and give the role that permission, then "
        "send the order again",
        code="currency_mismatch",
    )


def _stated(adapter: Any) -> str:
    return str(adapter.setting(SINGLE_CURRENCY_SETTING) or "").strip().upper()


def _kept_key(adapter: Any, request: PurchaseOrderRequest) -> str:
    return fingerprint(
        account=adapter.account.pk,
        provider=adapter.code,
        host=adapter.base_url,
        code=str(request.currency).strip().upper(),
    )


def _cancelled(record: dict[str, Any]) -> bool:
    status = record.get("orderStatus")
    code = status.get("id") if isinstance(status, dict) else None
    return ORDER_STATUSES.get(str(code)) == PurchaseOrderStatus.CANCELLED


def _record_currency(record: dict[str, Any]) -> str | None:
    currency = record.get("currency")
    found = currency.get("id") if isinstance(currency, dict) else None
    return str(found) if found is not None and _ID.fullmatch(str(found)) else None


def _record_id(adapter: Any, currency: str, rows: Rows, stated: str) -> str:
    """The currency record's id; WITHOUT when SuiteQL does not expose the
    record and the account states its one currency (kept as an id is). Unstated,
    refused and not kept: staff may grant the role the permission."""
    try:
        return currency_ref(adapter, currency, lambda c: _listed(rows, c))
    except Rejected as error:
        if not feature_off(error):
            raise
    if not stated:
        raise Rejected(
            "NetSuite does not let the integration read its currency records "
            "(Record 'currency' was not found): give its role the Currency "
            "permission (Lists), or, on an account without Multiple "
            "Currencies, set the account's single_currency to the one currency "
            "it books in; then send the order again",
            code="currency_unreadable",
        )
    return WITHOUT


def clean_single_currency(value: Any) -> str:
    """The setting as stored: an ISO 4217 code upper-cased, or "" (unset);
    ValueError, shown on the account form, for anything else."""
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        return money.validate_currency(text)
    except money.MoneyError:
        raise ValueError(
            f"{text[:20]!r} is not an ISO 4217 currency code (e.g. USD)"
        ) from None


def feature_off(error: Rejected) -> bool:
    """Whether SuiteQL refused the look-up because the account does not expose
    the currency record (no Multiple Currencies), not for another reason."""
    return error.http_status == 400 and bool(_NOT_EXPOSED.search(error.message))


def _listed(rows: Rows, code: str) -> str | None:
    """The id of an active currency record whose symbol is ``code``; None when
    there is none. Only inactive ones: refused (NetSuite would refuse the
    order, or book it in a currency staff retired)."""
    found = [
        row
        for row in rows(code)
        if row.get("symbol") == code and _ID.fullmatch(str(row.get("id")))
    ]
    active = [row for row in found if not _inactive(row)]
    if active:
        return str(active[0]["id"])
    if found:
        raise Rejected(
            f"NetSuite's currency {code} is inactive: make it active there (or "
            "correct the order's currency), then send the order again",
            code="inactive_currency",
        )
    return None


def _inactive(row: dict[str, Any]) -> bool:
    # SuiteQL answers checkboxes as 'T' / 'F'.
    return row.get("isinactive") in ("T", True)
