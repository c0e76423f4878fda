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
docs/providers/inventory.md."""

import logging
import re
from collections.abc import Callable
from typing import Any

from integrations import money
from integrations.errors import Rejected
from integrations.response_cache import fingerprint, get_or_compute
from inventory.providers.base import PurchaseOrderRequest
from inventory.providers.erp_currency import CURRENCY_TTL_SECONDS, currency_ref

logger = logging.getLogger(__name__)

SINGLE_CURRENCY_SETTING = "single_currency"
# Straight or typographic quotes: public clients have met both in this answer.
_NOT_EXPOSED = re.compile(
    r"Record ['\u2018\u2019]currency['\u2018\u2019] was not found", re.IGNORECASE
)
_ID = re.compile(r"[0-9]{1,18}")
# The currency records whose symbol is the code given (id, symbol, isinactive).
Rows = Callable[[str], list[dict[str, Any]]]


def order_currency(
    adapter: Any, request: PurchaseOrderRequest, rows: Rows
) -> str | None:
    """The currency record's id to set on the order, or None: the account
    does not expose its currencies and states the order's as its one."""
    stated = str(adapter.setting(SINGLE_CURRENCY_SETTING) or "").strip().upper()
    key = fingerprint(
        account=adapter.account.pk,
        provider=adapter.code,
        host=adapter.base_url,
        code=str(request.currency).strip().upper(),
    )
    found = get_or_compute(
        "netsuite_currency",
        key,
        ttl=CURRENCY_TTL_SECONDS,
        compute=lambda: _record_id(adapter, request.currency, rows, stated),
    )
    if found:
        return str(found)
    if stated != request.currency.upper():
        raise Rejected(
            f"NetSuite books in {stated} only (no Multiple Currencies): an order "
            f"in {request.currency} would be booked as {stated}; correct the "
            "order's currency or the account's setting",
            code="currency_mismatch",
        )
    logger.info(
        "netsuite order sent without currency",
        extra={"account": adapter.account.slug, "stated": stated},
    )
    return None


def _record_id(adapter: Any, currency: str, rows: Rows, stated: str) -> str:
    """The currency record's id; "" when SuiteQL does not expose the record
    and the account states its one currency (kept as an id is). Unstated,
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
    return ""


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
