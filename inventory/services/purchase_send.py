"""Purchase orders sent to the ERP idempotently (upsert by our public id, so
a timeout is simply sent again), until the ERP forgets that key."""

import logging
from typing import Any

from django.db.models.functions import Coalesce, Now

from integrations.errors import NotProcessed, ProviderError, Rejected
from integrations.models import ProviderAccount
from integrations.secrets_registry import staff_text
from inventory.models import PurchaseOrder, PurchaseOrderStatus
from inventory.providers import base as erp
from inventory.providers.erp_currency import HeldInAnotherCurrency
from inventory.services.errors import InvalidState, InventoryError
from inventory.services.purchase_erp import (
    adapter_of,
    apply_status,
    enabled_check,
    order_request,
    stamped_save,
    stored_reference_check,
)

logger = logging.getLogger(__name__)


def _account(account: ProviderAccount | None) -> ProviderAccount:
    if account is not None:
        return account
    found = (
        ProviderAccount.objects.filter(kind="inventory", enabled=True)
        .order_by("priority", "pk")
        .first()
    )
    if found is None:
        raise InventoryError("No enabled inventory account.", code="no_account")
    return found


def purchase_order_send(
    *,
    purchase_order: PurchaseOrder,
    account: ProviderAccount | None = None,
    checked: bool = False,
) -> PurchaseOrder:
    """Send (or send again) a purchase order to the ERP. The ERP keys it by
    our public id, so a send whose answer was lost is repeated safely while
    the ERP remembers the key; one the ERP answered is followed back by its
    reference instead. Past the key's life (``upsert_key_lifetime``) the
    order is ``unresolved`` until staff, having checked the ERP does not
    hold it, send it ``checked``."""
    _sendable_check(purchase_order, checked)
    # Checked before the order is pinned: an account that cannot be asked
    # must not keep an order it never received.
    candidate = purchase_order.account or _account(account)
    adapter = _callable_adapter(purchase_order, candidate)
    target = _pinned_account(purchase_order, candidate)
    if target.pk != candidate.pk:  # a concurrent send pinned another
        adapter = _callable_adapter(purchase_order, target)
    request = order_request(purchase_order)
    known = purchase_order.external_reference
    try:
        result = _placed(adapter, purchase_order, request, checked)
    except ProviderError as error:
        purchase_order.last_error = staff_text(f"{error.code}: {error.message}")[:255]
        stamped_save(purchase_order, "last_error")
        logger.warning(
            "purchase order send failed",
            extra={"purchase_order": purchase_order.public_id, "code": error.code},
        )
        if isinstance(error, Rejected):
            raise InventoryError(
                staff_text(error.message), code="erp_rejected"
            ) from None
        raise
    recorded = apply_status(
        purchase_order,
        result,
        references=(known, result.external_reference),
        external_reference=result.external_reference,
        sent_at=Coalesce("sent_at", Now()),
        send_tried_at=None,
        last_error="",
    )
    if not recorded:
        _second_order(purchase_order, result)
    return purchase_order


def _sendable_check(order: PurchaseOrder, checked: bool) -> None:
    if order.status == PurchaseOrderStatus.UNRESOLVED and not checked:
        raise InvalidState(
            f"{order.public_id} is unresolved: check whether the ERP holds it "
            "before sending it again (as checked).",
            code="purchase_order_unresolved",
        )
    if order.status not in (
        PurchaseOrderStatus.DRAFT,
        PurchaseOrderStatus.SENT,
        PurchaseOrderStatus.UNRESOLVED,
    ):
        raise InvalidState(
            f"A {order.status} purchase order is not sent again.",
            code=f"purchase_order_{order.status}",
        )


def _placed(
    adapter: Any, order: PurchaseOrder, request: erp.PurchaseOrderRequest, checked: bool
) -> erp.PurchaseOrderResult:
    """The ERP's order. One it answered before (its reference is stored) is
    followed back, not upserted again: an ERP whose idempotency keys lapse
    (TradeGecko's live 24 hours) would place a second order with the
    supplier. One the ERP no longer has is placed again. One sent before
    without an answer is first asked for by our id where the ERP can say
    (``purchase_order_held``). One whose answer
    was lost longer ago than the ERP keeps the key is left to staff; once
    they checked it, a lost answer is a draft's again (``_checked_lost``)."""
    if order.external_reference:
        # Compared for currency as a send's answer is (orders recorded before
        # that compare too): another is refused for staff, never confirmed.
        found = adapter.purchase_order_recorded(order.external_reference, request)
        if found is not None:
            return found
    if not checked:
        _key_lapsed_check(adapter, order)
    rows = PurchaseOrder.objects.filter(pk=order.pk)
    if rows.filter(send_tried_at__isnull=False).exists():
        # A send whose answer was lost may have placed it: an ERP that can
        # say (NetSuite, by our external id) is asked before sending again.
        held = adapter.purchase_order_held(request)
        if held is not None:
            return stored_reference_check(held)
    # The key's life runs from the first send without an answer kept.
    first = (rows if checked else rows.filter(send_tried_at__isnull=True)).update(
        send_tried_at=Now()
    )
    try:
        return stored_reference_check(adapter.purchase_order_upsert(request))
    except (NotProcessed, Rejected) as error:
        # Certainly not placed by this send: no key to outlive. Unless the ERP
        # holds it in another currency: a send again reads it, never confirms.
        if first and not isinstance(error, HeldInAnotherCurrency):
            rows.update(send_tried_at=None)
        raise
    except ProviderError:
        if checked:
            _checked_lost(order)
        raise


def _checked_lost(order: PurchaseOrder) -> None:
    """A send staff made as checked whose answer was lost: the ERP may hold
    the order under this send's key, whose life starts now (``send_tried_at``).
    The order is a draft again: sent again under that key while the ERP
    keeps it (it answers that order), ``unresolved`` past that, like any
    draft whose answer was lost. Only if still unresolved: a found order
    recorded meanwhile stays as recorded."""
    PurchaseOrder.objects.filter(
        pk=order.pk, status=PurchaseOrderStatus.UNRESOLVED
    ).update(status=PurchaseOrderStatus.DRAFT, updated_at=Now())
    order.refresh_from_db(fields=["status", "updated_at"])


def _key_lapsed_check(adapter: Any, order: PurchaseOrder) -> None:
    """Refuse to send again an order whose send went unanswered longer ago
    than the ERP keeps its key (it would place a second order if the first
    was placed); it becomes ``unresolved`` for staff. By the database's
    clock, which ``send_tried_at`` is stamped by."""
    life = adapter.upsert_key_lifetime
    if life is None:
        return
    lapsed = PurchaseOrder.objects.filter(
        pk=order.pk,
        status__in=(PurchaseOrderStatus.DRAFT, PurchaseOrderStatus.SENT),
        send_tried_at__lte=Now() - life,
    ).update(
        status=PurchaseOrderStatus.UNRESOLVED,
        last_error="unresolved: sent with no answer over "
        f"{life.total_seconds() / 3600:g} h ago; check the ERP before sending again",
        updated_at=Now(),
    )
    if not lapsed:
        return
    order.refresh_from_db(fields=["status", "last_error", "updated_at"])
    logger.warning(
        "purchase order unresolved: its send key lapsed",
        extra={"purchase_order": order.public_id},
    )
    raise InventoryError(
        f"{order.public_id} was sent over {life.total_seconds() / 3600:g} h ago "
        "with no answer, and the ERP no longer knows that send: it may hold the "
        "order. Check the ERP, then send it again as checked.",
        code="purchase_order_unresolved",
    )


def _pinned_account(
    order: PurchaseOrder, account: ProviderAccount | None
) -> ProviderAccount:
    """The order's account, stored before the ERP is called: a send that dies
    mid-call (the ERP may hold the order) must leave it pinned there."""
    if order.account is not None:
        return order.account
    target = _account(account)
    # Only if still unpinned: a concurrent send may have pinned another.
    PurchaseOrder.objects.filter(pk=order.pk, account__isnull=True).update(
        account=target, updated_at=Now()
    )
    order.refresh_from_db(fields=["account"])
    return order.account


def _callable_adapter(order: PurchaseOrder, target: ProviderAccount) -> Any:
    """The adapter of an enabled account this deploy can call, else refused
    (nothing sent)."""
    enabled_check(order, target)
    return adapter_of(target, f"{order.public_id} was not sent")


def _second_order(order: PurchaseOrder, result: erp.PurchaseOrderResult) -> None:
    """Another send or "Found at the ERP" recorded another ERP order while
    this send placed ``result``: the ERP holds two. The first recorded is
    kept; the second is stored on the order and told, never dropped."""
    order.refresh_from_db(fields=["external_reference"])
    kept, placed = order.external_reference, staff_text(result.external_reference)
    order.last_error = (
        f"reference_conflict: the ERP placed a second order {placed} while "
        f"{kept} was recorded; cancel one at the ERP"
    )[:255]
    stamped_save(order, "last_error")
    logger.warning(
        "purchase order placed twice at the ERP",
        extra={"purchase_order": order.public_id},
    )
    raise InventoryError(
        f"The ERP placed a second order {placed} for {order.public_id} while its "
        f"order {kept} was recorded (sent again or found meanwhile); {kept} is "
        f"kept. Cancel {placed} at the ERP if the supplier should not get both.",
        code="reference_conflict",
    )
