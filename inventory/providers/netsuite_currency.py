"""A NetSuite purchase order's currency: the currency record whose ``symbol``
is the order's ISO 4217 code, looked up by SuiteQL through ``erp_currency``.
The records browser documents ``displaysymbol`` as the "$ USD" shown on
forms, so ``symbol`` is taken for the form's "ISO Code" (its own row was not
found in the docs at hand: docs/providers/inventory.md).

An account without the Multiple Currencies feature does not expose the
currency record (REST record "Currency": the feature is a prerequisite), and
SuiteQL refuses the look-up (400 ``INVALID_PARAMETER``, "Search error
occurred: Record 'currency' was not found."). It books every order in its one
currency, so the order is sent without the field; only a currency the
account states (setting ``single_currency``) that differs from the order's
is refused. docs/providers/inventory.md."""

import logging
import re
from collections.abc import Callable
from typing import Any

from integrations.errors import Rejected
from inventory.providers.base import PurchaseOrderRequest
from inventory.providers.erp_currency import currency_ref

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
    """The currency record's id to set on the order, or None: the account has
    no Multiple Currencies and books the order in its one currency."""
    try:
        return currency_ref(adapter, request.currency, lambda c: _listed(rows, c))
    except Rejected as error:
        if not feature_off(error):
            raise
    stated = str(adapter.setting(SINGLE_CURRENCY_SETTING) or "").strip().upper()
    if stated and stated != request.currency.upper():
        raise Rejected(
            f"NetSuite books in {stated} only (no Multiple Currencies): an order "
            f"in {request.currency} would be booked as {stated}; correct the "
            "order's currency or the account's setting",
            code="currency_mismatch",
        )
    logger.info(
        "netsuite order sent without currency",
        extra={"account": adapter.account.slug, "stated": bool(stated)},
    )
    return None


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
