"""An ``unresolved`` purchase order staff found at its ERP, recorded once the
ERP confirms the order is ours."""

import logging
from typing import Any

from django.db.models.functions import Coalesce, Now

from integrations.errors import ProviderError
from integrations.models import ProviderAccount
from integrations.secrets_registry import staff_text
from inventory.models import PurchaseOrder, PurchaseOrderStatus
from inventory.providers import base as erp
from inventory.providers.erp_currency import (
    UNCOMPARED_CODES,
    CurrencyNotLookedUp,
    is_mismatch,
)
from inventory.services.errors import InvalidState, InventoryError
from inventory.services.purchase_erp import (
    adapter_of,
    apply_status,
    enabled_check,
    order_request,
    stored_reference_check,
)

logger = logging.getLogger(__name__)


def purchase_order_found(
    *, purchase_order: PurchaseOrder, external_reference: str
) -> PurchaseOrder:
    """Staff found an ``unresolved`` order at its ERP: the ERP's order id is
    recorded as its reference, the order is sent, and its status is the
    ERP's from then on. The ERP is asked first: an id it does not know, or
    whose order carries another reference number than ours, or is held in
    another currency than the order's, is refused
    (InventoryError), so a typo never ties the order to another one."""
    order, reference = purchase_order, external_reference.strip()
    _unresolved_check(order)
    account = order.account
    if account is None:  # an unresolved order was sent, so it is pinned
        raise InvalidState(f"{order.public_id} was never sent.", code="not_sent")
    enabled_check(order, account)
    adapter = adapter_of(account, f"{order.public_id} is not recorded")
    result = _order_at_erp(adapter, order, account, reference)
    recorded = PurchaseOrder.objects.filter(
        pk=order.pk, status=PurchaseOrderStatus.UNRESOLVED
    ).update(
        external_reference=result.external_reference,
        status=PurchaseOrderStatus.SENT,
        raw_status=result.raw_status[:64],
        sent_at=Coalesce("sent_at", Now()),
        send_tried_at=None,
        last_error="",
        updated_at=Now(),
    )
    if not recorded:  # sent again or recorded meanwhile
        order.refresh_from_db()
        _unresolved_check(order)
    apply_status(order, result)
    order.refresh_from_db()  # as stored: the fields recorded above too
    logger.info(
        "purchase order found at the ERP", extra={"purchase_order": order.public_id}
    )
    return order


def _order_at_erp(
    adapter: Any, order: PurchaseOrder, account: ProviderAccount, reference: str
) -> erp.PurchaseOrderResult:
    """The ERP's order ``reference``, once it is certainly ``order``'s."""
    problem = _reference_problem(adapter, reference)
    if problem:
        raise InventoryError(problem, code="invalid_reference")
    try:
        result = adapter.purchase_order_found_at(reference, order_request(order))
    except ProviderError as error:
        refusal = _currency_refusal(error, reference)
        if refusal is None:
            raise
        raise refusal from None
    if result is None:
        raise InventoryError(
            f"ERP account {account.slug!r} has no order {reference}.",
            code="not_found",
        )
    stored_reference_check(result)
    taken = (
        PurchaseOrder.objects.filter(
            account=account, external_reference=result.external_reference
        )
        .exclude(pk=order.pk)
        .first()
    )
    if taken is not None:
        raise InventoryError(
            f"The ERP's order {reference} is already recorded for {taken.public_id}.",
            code="reference_taken",
        )
    # Ours only if it carries our id: TradeGecko answers any order of the
    # account by its id, and one typed in at the ERP has no reference.
    if result.external_id != order.public_id:
        theirs = (
            f"its order for {staff_text(result.external_id)[:64]}"
            if result.external_id
            else "an order with no reference number"
        )
        raise InventoryError(
            f"The ERP's order {reference} is {theirs}, not {order.public_id}.",
            code="reference_mismatch",
        )
    return result


def _currency_refusal(error: ProviderError, reference: str) -> InventoryError | None:
    """The ERP answered with its order, but its currency is not ours, could
    not be compared (checked as a send's read-back is: never recorded so) or
    its look-up failed (rate-limited, refused); None for any other error (the
    ERP could not be asked)."""
    if is_mismatch(error):
        return InventoryError(staff_text(error.message), code="currency_mismatch")
    if isinstance(error, CurrencyNotLookedUp):
        return InventoryError(
            f"The ERP answered with its order {reference}, but its currency could "
            f"not be looked up ({staff_text(error.message)}); nothing was "
            "recorded.",
            code=error.code,
        )
    if error.code not in UNCOMPARED_CODES:
        return None
    return InventoryError(
        f"The ERP answered with its order {reference}, but its currency could "
        f"not be compared: {staff_text(error.message)}; nothing was recorded.",
        code=error.code,
    )


def _unresolved_check(order: PurchaseOrder) -> None:
    if order.status != PurchaseOrderStatus.UNRESOLVED:
        raise InvalidState(
            f"{order.public_id} is {order.status}, not unresolved: nothing to record.",
            code=f"purchase_order_{order.status}",
        )


def _reference_problem(adapter: Any, reference: str) -> str | None:
    bound = PurchaseOrder._meta.get_field("external_reference").max_length
    if not reference or len(reference) > bound or not reference.isprintable():
        return f"An ERP order id is 1 to {bound} printable characters."
    return adapter.purchase_order_reference_problem(reference)
