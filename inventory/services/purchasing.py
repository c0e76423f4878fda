"""Purchase orders: drafted from reorder points, sent to the ERP
idempotently (upsert by our public id, so a timeout is simply sent again),
and their status followed back."""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce, Now

from integrations import registry
from integrations.clock import database_now
from integrations.errors import NotProcessed, ProviderError, Rejected, Unknown
from integrations.models import ProviderAccount
from integrations.rows import lock_rows
from integrations.secrets_registry import staff_text
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    ReorderPoint,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)
from inventory.providers import base as erp
from inventory.services.errors import InvalidState, InventoryError

logger = logging.getLogger(__name__)

OPEN = (
    PurchaseOrderStatus.DRAFT,
    PurchaseOrderStatus.UNRESOLVED,  # the ERP may hold it
    PurchaseOrderStatus.SENT,
    PurchaseOrderStatus.CONFIRMED,
)
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


def available_by_sku(skus: Iterable[str], now: datetime) -> dict[str, int]:
    """Available units per SKU over the locations that sell (expired holds
    not counted): stock at an inactive location covers no reorder level."""
    skus = list(skus)
    totals = (
        StockLevel.objects.filter(sku__in=skus, location__active=True)
        .values("sku")
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
    )
    expired = (
        ReservationLine.objects.filter(
            sku__in=skus,
            location__active=True,
            reservation__status=ReservationStatus.ACTIVE,
            reservation__expires_at__lte=now,
        )
        .values("sku")
        .annotate(units=Sum("quantity"))
    )
    freed = {row["sku"]: row["units"] for row in expired}
    found = {
        row["sku"]: row["on_hand"] - row["reserved"] + freed.get(row["sku"], 0)
        for row in totals
    }
    return {sku: found.get(sku, 0) for sku in skus}


def purchase_orders_draft(
    *, skus: Iterable[str] | None = None, now: datetime | None = None
) -> list[PurchaseOrder]:
    """A draft purchase order per supplier and location for every SKU below
    its reorder point that no open purchase order covers yet. The reorder
    points are locked first: two drafts at once (the admin's action and the
    command) wait for each other, and the second finds the first's orders.
    Holds are expired by the database's clock (their expires_at is), unless
    ``now`` is given."""
    points = ReorderPoint.objects.select_related("supplier", "location")
    if skus is not None:
        points = points.filter(sku__in=list(skus))
    created = []
    with transaction.atomic():
        # Locked in pk order, the order every drafter uses, so two drafts
        # queue; the one that waited reads the other's orders (committed).
        keys = list(points.values_list("pk", flat=True))
        locked = list(lock_rows(points, keys, of=("self",)).values())
        # Read after the wait for the locks; this machine's clock may be off.
        for group in _uncovered(locked, now or database_now()).values():
            created.append(_draft(group))
    logger.info("purchase orders drafted", extra={"count": len(created)})
    return created


def _uncovered(
    points: list[ReorderPoint], now: datetime
) -> dict[tuple[int, int], list[ReorderPoint]]:
    """The points below their level no open order covers, by supplier and
    location."""
    available = available_by_sku([p.sku for p in points], now)
    covered = set(
        PurchaseOrderLine.objects.filter(
            purchase_order__status__in=OPEN, sku__in=[p.sku for p in points]
        ).values_list("sku", flat=True)
    )
    groups: dict[tuple[int, int], list[ReorderPoint]] = defaultdict(list)
    for point in points:
        if available[point.sku] < point.reorder_level and point.sku not in covered:
            groups[(point.supplier_id, point.location_id)].append(point)
    return groups


def _draft(group: list[ReorderPoint]) -> PurchaseOrder:
    order = PurchaseOrder.objects.create(
        supplier=group[0].supplier,
        location=group[0].location,
        currency=group[0].supplier.currency,
    )
    PurchaseOrderLine.objects.bulk_create(
        PurchaseOrderLine(
            purchase_order=order,
            sku=p.sku,
            quantity=p.reorder_quantity,
            unit_cost=p.unit_cost,
        )
        for p in group
    )
    return order


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


def purchase_orders_unsent(*, skus: Iterable[str] | None = None) -> list[PurchaseOrder]:
    """The drafts not yet sent (those with a line of ``skus``, if given),
    oldest first."""
    drafts = PurchaseOrder.objects.filter(status=PurchaseOrderStatus.DRAFT)
    if skus is not None:
        drafts = drafts.filter(lines__sku__in=list(skus)).distinct()
    return list(drafts.select_related("supplier", "location").order_by("pk"))


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
    request = erp.PurchaseOrderRequest(
        external_id=purchase_order.public_id,
        supplier_code=purchase_order.supplier.code,
        location_code=purchase_order.location.code,
        currency=purchase_order.currency,
        lines=tuple(
            erp.PurchaseOrderLine(line.sku, line.quantity, line.unit_cost)
            for line in purchase_order.lines.all()
        ),
    )
    known = purchase_order.external_reference
    try:
        result = _placed(adapter, purchase_order, request, checked)
    except ProviderError as error:
        purchase_order.last_error = staff_text(f"{error.code}: {error.message}")[:255]
        _stamped_save(purchase_order, "last_error")
        logger.warning(
            "purchase order send failed",
            extra={"purchase_order": purchase_order.public_id, "code": error.code},
        )
        if isinstance(error, Rejected):
            raise InventoryError(
                staff_text(error.message), code="erp_rejected"
            ) from None
        raise
    recorded = _apply_status(
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
    supplier. One the ERP no longer has is placed again. One whose answer
    was lost longer ago than the ERP keeps the key is left to staff."""
    if order.external_reference:
        found = adapter.purchase_order_status(order.external_reference)
        if found is not None:
            return found
    if not checked:
        _key_lapsed_check(adapter, order)
    rows = PurchaseOrder.objects.filter(pk=order.pk)
    # The key's life runs from the first send without an answer kept.
    first = (rows if checked else rows.filter(send_tried_at__isnull=True)).update(
        send_tried_at=Now()
    )
    try:
        return _stored_reference_check(adapter.purchase_order_upsert(request))
    except (NotProcessed, Rejected):
        if first:  # certainly not placed by this send: no key to outlive
            rows.update(send_tried_at=None)
        raise


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


def _stored_reference_check(result: erp.PurchaseOrderResult) -> erp.PurchaseOrderResult:
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
    _enabled_check(order, target)
    return _adapter_of(target, f"{order.public_id} was not sent")


def _adapter_of(target: ProviderAccount, outcome: str) -> Any:
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


def _enabled_check(order: PurchaseOrder, target: ProviderAccount) -> None:
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


def _stamped_save(order: PurchaseOrder, field: str) -> None:
    """Store ``order``'s ``field``, its change stamped by the database's
    clock (``updated_at``), read back as stored."""
    PurchaseOrder.objects.filter(pk=order.pk).update(
        **{field: getattr(order, field)}, updated_at=Now()
    )
    order.refresh_from_db(fields=[field, "updated_at"])


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
    _stamped_save(order, "last_error")
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


def _apply_status(
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
    adapter = _adapter_of(
        purchase_order.account, f"{purchase_order.public_id} is not asked there"
    )
    result = adapter.purchase_order_status(purchase_order.external_reference)
    if result is None:
        purchase_order.last_error = "not_found: the ERP has no such order"
        _stamped_save(purchase_order, "last_error")
        return purchase_order
    _apply_status(purchase_order, result)
    return purchase_order


def purchase_order_found(
    *, purchase_order: PurchaseOrder, external_reference: str
) -> PurchaseOrder:
    """Staff found an ``unresolved`` order at its ERP: the ERP's order id is
    recorded as its reference, the order is sent, and its status is the
    ERP's from then on. The ERP is asked first: an id it does not know, or
    whose order carries another reference number than ours, is refused
    (InventoryError), so a typo never ties the order to another one."""
    order, reference = purchase_order, external_reference.strip()
    _unresolved_check(order)
    account = order.account
    if account is None:  # an unresolved order was sent, so it is pinned
        raise InvalidState(f"{order.public_id} was never sent.", code="not_sent")
    _enabled_check(order, account)
    adapter = _adapter_of(account, f"{order.public_id} is not recorded")
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
    _apply_status(order, result)
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
    result = adapter.purchase_order_status(reference)
    if result is None:
        raise InventoryError(
            f"ERP account {account.slug!r} has no order {reference}.",
            code="not_found",
        )
    _stored_reference_check(result)
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


def purchase_orders_refresh_open() -> int:
    """The schedule: follow every sent or confirmed order back, at enabled
    accounts only (staff disabled the others for a reason); one order that
    cannot be asked never stops the rest."""
    count = 0
    for order in (
        PurchaseOrder.objects.filter(
            status__in=[PurchaseOrderStatus.SENT, PurchaseOrderStatus.CONFIRMED],
            account__enabled=True,
        )
        .select_related("account")
        .order_by("pk")
    ):
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
