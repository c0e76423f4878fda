"""The inventory adapter contract: typed stock levels, purchase orders and
(optional) reservations at the ERP boundary, and the operations every
inventory adapter implements.

Quantities are integers in the SKU's stock unit. Times are aware datetimes.
Adapters raise only ``integrations.errors`` types: an ERP that has no such
purchase order answers ``Rejected`` ``not_found`` (``purchase_order_status``
turns that into None); a refusal of a purchase order (unknown SKU or supplier)
is ``Rejected`` with the ERP's reason.

How the domain uses an adapter:

- sync: ``levels(LevelsQuery(since=...))``, then ``levels(query.next(page))``
  while ``page.has_more``; after a page that failed, ``cursor_after(query)``
  (None: the run stops there). An adapter whose ERP can only answer for named SKUs
  (``levels_by_sku``) is asked with ``skus`` in batches of
  ``max_page_size``; ``since`` is only passed when ``supports_since``.
- purchase orders: ``purchase_order_upsert`` creates or updates the order
  known by our ``external_id`` (the ERP's external id / upsert key), so a
  timeout is retried with the same request without creating a second order;
  ``purchase_order_status`` follows it back.
- reservations: only where ``supports_reservations``: ``reserve``, then
  ``release`` or ``confirm`` by the same reference, each idempotent. The
  shop's own reservations (inventory.services) never depend on them: they
  are forwarded after the fact (inventory.services.forwarding).
"""

from abc import abstractmethod
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from integrations.errors import Rejected
from integrations.providers.base import BaseAdapter
from integrations.webhooks.messages import WebhookMessage

__all__ = [
    "InventoryAdapter",
    "InventoryEvent",
    "LevelsQuery",
    "PurchaseOrderLine",
    "PurchaseOrderRequest",
    "PurchaseOrderResult",
    "PurchaseOrderStatus",
    "ReservationLine",
    "ReserveRequest",
    "ReserveResult",
    "StockLevelPage",
    "StockLevelRecord",
    "cursor_from_offset",
    "offset_cursor_after",
    "offset_from_cursor",
]


@dataclass(frozen=True)
class StockLevelRecord:
    """One SKU at one location as the ERP reports it."""

    sku: str
    location_code: str
    on_hand: int
    # The ERP's last-modified time for this level; None when it keeps none.
    modified_at: datetime | None = None


@dataclass(frozen=True)
class LevelsQuery:
    """What ``levels`` is asked for: one page."""

    # Continuation from the previous page's ``next_cursor`` ("" = first page).
    cursor: str = ""
    # Only levels the ERP changed at or after this time (``supports_since``).
    since: datetime | None = None
    # Requested page size; an adapter caps it at ``max_page_size``.
    limit: int = 100
    # Only these SKUs (required by ``levels_by_sku`` adapters).
    skus: tuple[str, ...] = ()

    def next(self, page: "StockLevelPage") -> "LevelsQuery":
        """The query for the page after ``page``."""
        return replace(self, cursor=page.next_cursor)


@dataclass(frozen=True)
class StockLevelPage:
    records: tuple[StockLevelRecord, ...]
    # Opaque continuation: an offset (NetSuite), a page number or a cursor.
    next_cursor: str = ""
    has_more: bool = False


def cursor_from_offset(offset: int) -> str:
    """An offset as the opaque continuation string."""
    return str(offset)


def offset_from_cursor(cursor: str) -> int:
    """The offset a continuation carries ("" = 0); a cursor that is not one is
    ours misused, so it is refused before any call."""
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise Rejected("continuation is not an offset", code="invalid_cursor")
    return int(cursor)


def offset_cursor_after(query: LevelsQuery) -> str:
    """For offset-paged adapters' ``cursor_after``: the page after this one."""
    return cursor_from_offset(offset_from_cursor(query.cursor) + query.limit)


class PurchaseOrderStatus(StrEnum):
    """Where the ERP says a purchase order stands (our names)."""

    DRAFT = "draft"
    SENT = "sent"  # accepted by the ERP, awaiting the supplier
    CONFIRMED = "confirmed"  # the supplier confirmed it
    RECEIVED = "received"  # goods received (fully)
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class PurchaseOrderLine:
    sku: str
    quantity: int
    # Unit cost in the currency's minor unit; 0 when the ERP prices it.
    unit_cost: int = 0


@dataclass(frozen=True)
class PurchaseOrderRequest:
    """A purchase order to create or update, known by our ``external_id``."""

    external_id: str  # our public id: the ERP's upsert key
    supplier_code: str
    location_code: str
    currency: str
    lines: tuple[PurchaseOrderLine, ...]
    memo: str = ""
    expected_at: datetime | None = None


@dataclass(frozen=True)
class PurchaseOrderResult:
    external_reference: str  # the ERP's id of the order
    status: PurchaseOrderStatus
    external_id: str = ""  # ours, when the ERP echoes it
    raw_status: str = ""  # the ERP's own status, for staff


@dataclass(frozen=True)
class ReservationLine:
    sku: str
    location_code: str
    quantity: int


@dataclass(frozen=True)
class ReserveRequest:
    """A hold on stock in an ERP that keeps its own (``supports_reservations``)."""

    reference: str  # our reservation's public id
    lines: tuple[ReservationLine, ...]
    idempotency_key: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ReserveResult:
    reference: str  # ours, echoed
    external_reference: str = ""  # the service's id of the hold


@dataclass(frozen=True)
class InventoryEvent:
    """A verified ``inventory.updated`` webhook, translated: the levels it
    reports, applied by the same rules as a sync (older than stored: ignored)."""

    levels: tuple[StockLevelRecord, ...]
    occurred_at: datetime | None = None


class InventoryAdapter(BaseAdapter):
    kind = "inventory"
    # Largest page the ERP serves (NetSuite SuiteQL: 1000; generic: 50 SKUs).
    max_page_size: ClassVar[int] = 1000
    # The ERP filters levels by last-modified time (incremental sync).
    supports_since: ClassVar[bool] = False
    # The ERP answers only for named SKUs (the generic stock service): the
    # sync asks for the SKUs it knows, ``max_page_size`` at a time.
    levels_by_sku: ClassVar[bool] = False
    # The ERP keeps holds of its own (``reserve`` / ``release`` / ``confirm``):
    # the shop's reservations are forwarded to it.
    supports_reservations: ClassVar[bool] = False

    @abstractmethod
    def levels(self, query: LevelsQuery) -> StockLevelPage:
        """One page of stock levels (a read: safe to retry)."""

    @abstractmethod
    def purchase_order_upsert(
        self, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult:
        """Create the purchase order known by ``request.external_id``, or
        answer the one that already exists under it: sending the same request
        twice leaves one order in the ERP."""

    @abstractmethod
    def purchase_order_fetch(self, external_reference: str) -> PurchaseOrderResult:
        """The order the ERP knows by this reference; its "not found" is
        ``Rejected`` ``not_found``."""

    def purchase_order_status(
        self, external_reference: str
    ) -> PurchaseOrderResult | None:
        """The order as the ERP has it now; None when it has none."""
        return self.none_if_not_found(
            lambda: self.purchase_order_fetch(external_reference)
        )

    def cursor_after(self, query: LevelsQuery) -> str | None:
        """The continuation past ``query``'s page when that page failed, so a
        sync can record the failure and go on; None (the default) when only
        the failed page's answer could tell it (an opaque cursor). Offset
        paging: ``offset_cursor_after(query)``; page numbers: the next one."""
        return None

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        """Hold stock in the ERP (idempotent by ``request.reference``)."""
        raise NotImplementedError(f"{self.display_name} keeps no reservations")

    def release(self, *, reference: str, idempotency_key: str) -> None:
        """Drop the hold made under ``reference``; releasing one the ERP no
        longer has is not an error."""
        raise NotImplementedError(f"{self.display_name} keeps no reservations")

    def confirm(self, *, reference: str, idempotency_key: str) -> None:
        """The hold made under ``reference`` became a sale: its units leave
        the ERP's on hand. Confirming twice is not an error; a hold the ERP
        no longer has is ``Rejected`` ``not_found``."""
        raise NotImplementedError(f"{self.display_name} keeps no reservations")

    def parse_inventory_event(self, message: WebhookMessage) -> InventoryEvent | None:
        """Translate a verified webhook; None for event types we ignore."""
        return None
