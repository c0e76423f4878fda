"""A purchase order at its ERP: the account's adapter, the ERP's status
stored (forward only) and followed back by the schedule."""

import logging
import operator
from functools import reduce
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from integrations import registry
from integrations.errors import ProviderError, Unknown
from integrations.models import ProviderAccount
from integrations.secrets_registry import staff_text
from inventory.models import PurchaseOrder, PurchaseOrderStatus
from inventory.providers import base as erp
from inventory.providers.erp_currency import UNCOMPARED_CODES, is_mismatch, one_run
from inventory.services.errors import InventoryError

logger = logging.getLogger(__name__)

# How far a status may move: never back (a late answer cannot undo "received").
RANK = {
    PurchaseOrderStatus.DRAFT: 0,
    PurchaseOrderStatus.UNRESOLVED: 0,
    PurchaseOrderStatus.SENT: 1,
    PurchaseOrderStatus.CONFIRMED: 2,
    PurchaseOrderStatus.RECEIVED: 3,
    PurchaseOrderStatus.CANCELLED: 3,
}
STATUS_FIELDS = ("status", "raw_status", "updated_at")
# A refresh's currency refusal in ``last_error`` (a send's mismatch reads the
# same): cleared by the next refresh whose compare passes, no other error.
CURRENCY_REFUSALS = reduce(
    operator.or_,
    (
        Q(last_error__startswith=f"{code}: ")
        for code in sorted({"currency_mismatch", *UNCOMPARED_CODES})
    ),
)


def stored_reference_check(result: erp.PurchaseOrderResult) -> erp.PurchaseOrderResult:
    """The ERP's id of the order, refused as a malformed answer when longer
    than we store (TradeGecko's and NetSuite's ids are numbers of no stated
    bound): the save would fail after the ERP took the order."""
    bound = PurchaseOrder._meta.get_field("external_reference").max_length
    if len(result.external_reference) > bound:
        raise Unknown(
            f"The ERP's order id is longer than {bound} characters",
            code="malformed_response",
        )
    return result


def order_request(order: PurchaseOrder) -> erp.PurchaseOrderRequest:
    """The order as the adapter is asked about it: sent, or found at the ERP."""
    return erp.PurchaseOrderRequest(
        external_id=order.public_id,
        supplier_code=order.supplier.code,
        location_code=order.location.code,
        currency=order.currency,
        lines=tuple(
            erp.PurchaseOrderLine(line.sku, line.quantity, line.unit_cost)
            for line in order.lines.all()
        ),
    )


def adapter_of(target: ProviderAccount, outcome: str) -> Any:
    """The account's adapter, or ``account_uncallable`` (``outcome`` says what
    was not done). The credentials are opened here: an adapter reads them
    lazily, so a key rotation that dropped their key would fail mid-call."""
    try:
        adapter = registry.get_adapter(target)
        target.get_credentials()
    except registry.ACCOUNT_UNCALLABLE as error:
        raise InventoryError(
            f"ERP account {target.slug!r} cannot be called "
            f"({type(error).__name__}); {outcome}.",
            code="account_uncallable",
        ) from None
    return adapter


def enabled_check(order: PurchaseOrder, target: ProviderAccount) -> None:
    """An order keeps the account it was first tried on: that ERP may hold it
    (a lost answer), so it never moves to another one, where it would be
    placed twice. Staff disabled that account: refused, not sent."""
    if not target.enabled:
        raise InventoryError(
            f"ERP account {target.slug!r} is disabled; {order.public_id} was "
            "tried there and is not sent elsewhere (enable it, or cancel the "
            "order at that ERP).",
            code="account_disabled",
        )


def stamped_save(order: PurchaseOrder, field: str) -> None:
    """Store ``order``'s ``field``, its change stamped by the database's
    clock (``updated_at``), read back as stored."""
    PurchaseOrder.objects.filter(pk=order.pk).update(
        **{field: getattr(order, field)}, updated_at=Now()
    )
    order.refresh_from_db(fields=[field, "updated_at"])


def apply_status(
    order: PurchaseOrder,
    result: erp.PurchaseOrderResult,
    references: tuple[str, ...] | None = None,
    **fields: Any,
) -> bool:
    """Store the ERP's status (and ``fields``) by conditional updates, not a
    save of the whole row: a send and a refresh crossing, each holding the
    order as it read it, never move the status back nor undo the other's
    fields. ``order`` is then read back as stored. False, nothing stored,
    when the order holds none of ``references`` (another writer's order)."""
    status = PurchaseOrderStatus(str(result.status))
    if status == PurchaseOrderStatus.DRAFT:
        status = PurchaseOrderStatus.SENT  # the ERP has it: it was sent
    behind = [s for s, rank in RANK.items() if rank <= RANK[status]]
    rows = PurchaseOrder.objects.filter(pk=order.pk)
    with transaction.atomic():
        # ``fields`` only over one of ``references`` (the one read before the
        # ERP was called, or its answer): never over another writer's.
        kept = (
            rows
            if references is None
            else rows.filter(external_reference__in=references)
        )
        if fields and not kept.update(**fields, updated_at=Now()):
            return False
        rows.filter(status__in=behind).update(
            status=status, raw_status=result.raw_status[:64], updated_at=Now()
        )
    order.refresh_from_db(fields=[*STATUS_FIELDS, *fields])
    return True


def purchase_order_refresh(*, purchase_order: PurchaseOrder) -> PurchaseOrder:
    """Ask the ERP where the order stands; statuses only move forward. Not at
    a disabled account (InventoryError ``account_disabled``) nor one this
    deploy cannot call (``account_uncallable``)."""
    if not purchase_order.external_reference or purchase_order.account is None:
        return purchase_order
    if not purchase_order.account.enabled:
        # Staff disabled it for a reason, as the schedule respects.
        raise InventoryError(
            f"ERP account {purchase_order.account.slug!r} is disabled; "
            f"{purchase_order.public_id} is not asked there.",
            code="account_disabled",
        )
    adapter = adapter_of(
        purchase_order.account, f"{purchase_order.public_id} is not asked there"
    )
    try:
        result = adapter.purchase_order_recorded(
            purchase_order.external_reference, order_request(purchase_order)
        )
    except ProviderError as error:
        if not (is_mismatch(error) or error.code in UNCOMPARED_CODES):
            raise
        raise currency_refusal_kept(purchase_order, error) from None
    if result is None:
        purchase_order.last_error = "not_found: the ERP has no such order"
        stamped_save(purchase_order, "last_error")
        return purchase_order
    apply_status(purchase_order, result)
    # Corrected at the ERP since: the refusal this read would repeat is gone.
    PurchaseOrder.objects.filter(CURRENCY_REFUSALS, pk=purchase_order.pk).update(
        last_error="", updated_at=Now()
    )
    purchase_order.refresh_from_db(fields=["last_error", "updated_at"])
    return purchase_order


def currency_refusal_kept(order: PurchaseOrder, error: ProviderError) -> InventoryError:
    """The ERP holds ``order`` in another currency than ours (an order
    recorded before the compare, or changed there since), or its currency
    could not be compared: kept in ``last_error`` for staff, as a send's
    refusal is, its status not taken."""
    order.last_error = staff_text(f"{error.code}: {error.message}")[:255]
    stamped_save(order, "last_error")
    logger.warning(
        "purchase order currency refused at the ERP",
        extra={"purchase_order": order.public_id, "code": error.code},
    )
    return InventoryError(staff_text(error.message), code=error.code)


def purchase_orders_refresh_open() -> int:
    """The schedule: follow every sent or confirmed order back, at enabled
    accounts only (staff disabled the others for a reason); one order that
    cannot be asked never stops the rest."""
    orders = (
        PurchaseOrder.objects.filter(
            status__in=[PurchaseOrderStatus.SENT, PurchaseOrderStatus.CONFIRMED],
            account__enabled=True,
        )
        .select_related("account")
        .order_by("pk")
    )
    count = 0
    with one_run():  # a refused currency look-up: asked once per account
        for order in orders:
            try:
                purchase_order_refresh(purchase_order=order)
            except (ProviderError, InventoryError) as error:
                logger.warning(
                    "purchase order refresh failed",
                    extra={
                        "purchase_order": order.public_id,
                        "code": getattr(error, "code", type(error).__name__),
                    },
                )
                continue
            count += 1
    return count
