"""A one-off currency audit of purchase orders no refresh reads again: an
order finished (``received``) before the currency compare existed is never
asked for again, so one held at the ERP in another currency than ours would
never be seen. Each is read as a refresh reads it (the shared compare,
``erp_currency``); dry run by default, ``record`` keeps a mismatch in
``last_error`` as the refresh does. The ERP's status is never taken here."""

from collections.abc import Sequence
from dataclasses import dataclass

from integrations.errors import ProviderError
from integrations.secrets_registry import staff_text
from inventory.models import PurchaseOrder, PurchaseOrderStatus
from inventory.providers.erp_currency import is_mismatch, one_run
from inventory.services.errors import InventoryError
from inventory.services.purchase_erp import (
    adapter_of,
    currency_refusal_kept,
    order_request,
)

# Finished orders: the refresh schedule reads sent and confirmed ones.
AUDITED_BY_DEFAULT = (PurchaseOrderStatus.RECEIVED,)
AUDITABLE = (
    PurchaseOrderStatus.SENT,
    PurchaseOrderStatus.CONFIRMED,
    PurchaseOrderStatus.RECEIVED,
)


@dataclass(frozen=True)
class AuditFinding:
    """An order the audit found held in another currency (``mismatch``) or
    could not check; ``detail`` is the reason, safe for staff."""

    order: PurchaseOrder
    mismatch: bool
    detail: str


@dataclass(frozen=True)
class AuditReport:
    read: int  # orders the ERP answered for, in our currency or not
    findings: tuple[AuditFinding, ...]


def purchase_orders_currency_audit(
    *,
    statuses: Sequence[str] = AUDITED_BY_DEFAULT,
    account_slugs: Sequence[str] = (),
    record: bool = False,
) -> AuditReport:
    """Read every order of ``statuses`` holding an ERP reference (at the
    accounts named, else at every one) and compare its currency. An order at
    a disabled account is not asked (staff disabled it for a reason)."""
    orders = PurchaseOrder.objects.filter(
        status__in=list(statuses), account__isnull=False
    ).exclude(external_reference="")
    if account_slugs:
        orders = orders.filter(account__slug__in=list(account_slugs))
    read, findings = 0, []
    with one_run():  # a refused currency look-up: asked once per account
        for order in orders.select_related("account").order_by("pk"):
            finding = _audited(order, record)
            if finding is None or finding.mismatch:
                read += 1  # the ERP answered with the order
            if finding is not None:
                findings.append(finding)
    return AuditReport(read=read, findings=tuple(findings))


def _audited(order: PurchaseOrder, record: bool) -> AuditFinding | None:
    """What staff are told of ``order``; None when it is in our currency."""
    found = _checked(order, record)
    if found is None:
        return None
    return AuditFinding(found.order, found.mismatch, staff_text(found.detail))


def _checked(order: PurchaseOrder, record: bool) -> AuditFinding | None:
    account = order.account
    if not account.enabled:
        return AuditFinding(order, False, f"ERP account {account.slug!r} is disabled")
    try:
        adapter = adapter_of(account, f"{order.public_id} is not asked there")
        found = adapter.purchase_order_recorded(
            order.external_reference, order_request(order)
        )
    except InventoryError as error:
        return AuditFinding(order, False, f"{error.code}: {error.message}")
    except ProviderError as error:
        if not is_mismatch(error):
            return AuditFinding(order, False, f"{error.code}: {error.message}")
        if record:
            currency_refusal_kept(order, error)
        return AuditFinding(order, True, f"currency_mismatch: {error.message}")
    if found is None:
        return AuditFinding(order, False, "not_found: the ERP has no such order")
    return None
