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
- every page and event holds only levels our columns can store: one the
  ERP sends beyond them (``level_problem``: the model fields' limits) is
  moved to the page's or event's ``rejected`` when it is built, so the
  domain applies the others and shows staff the refused ones.
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
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from integrations.errors import Rejected
from integrations.providers.base import BaseAdapter
from integrations.webhooks.messages import WebhookMessage

# Re-exported: adapters and the domain import the level records from here.
from inventory.providers.level_records import (
    CLOCK_SKEW,
    FAR_FUTURE,
    MAX_STOCK_FIGURE,
    RejectedLevel,
    StockLevelRecord,
    UnreadableLevel,
    level_problem,
    modified_before,
    readable_levels,
    storable_levels,
    whole_units,
    without_rejected,
)

# The event type the domain's webhook handler is registered for.
LEVELS_EVENT = "inventory.updated"

__all__ = [
    "CLOCK_SKEW",
    "FAR_FUTURE",
    "LEVELS_EVENT",
    "MAX_STOCK_FIGURE",
    "ConfirmResult",
    "InventoryAdapter",
    "InventoryEvent",
    "LevelsQuery",
    "PurchaseOrderLine",
    "PurchaseOrderRequest",
    "PurchaseOrderResult",
    "PurchaseOrderStatus",
    "RejectedLevel",
    "ReservationLine",
    "ReserveRequest",
    "ReserveResult",
    "StockLevelPage",
    "StockLevelRecord",
    "UnreadableLevel",
    "cursor_from_offset",
    "level_problem",
    "modified_before",
    "offset_cursor_after",
    "offset_from_cursor",
    "readable_levels",
    "storable_levels",
    "whole_units",
]


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
    # Only levels our columns hold; the others are moved to ``rejected``.
    records: tuple[StockLevelRecord, ...]
    # Opaque continuation: a key (NetSuite), an offset, a page number or a cursor.
    next_cursor: str = ""
    has_more: bool = False
    rejected: tuple[RejectedLevel, ...] = ()
    # How many the whole listing held as this page was read (None: the ERP
    # does not say): a listing paged by number that changed size under a
    # run shifted records past it (sync_gone).
    total: int | None = None
    # The listing moved under the run between the page before and this one
    # (paged by number): a record may have been skipped, so the run proves
    # no deletion and does not move "since" (sync_pages, sync_gone).
    shifted: bool = False
    # The adapter proved that no record was skipped between the page before
    # and this one (TradeGecko: that page's last record read again, or
    # looked up), whatever the size did: a size change then stops no
    # deletion check (sync_gone).
    boundary_proven: bool = False

    def __post_init__(self) -> None:
        without_rejected(self, "records")


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
class ConfirmResult:
    """The ERP's answer to ``confirm``."""

    # The ERP's own time (its clock, which may run ahead of ours) at which it
    # took the units off: a level it modified at or after this shows them.
    # None when its answer gives no time.
    confirmed_at: datetime | None = None


@dataclass(frozen=True)
class InventoryEvent:
    """A verified ``inventory.updated`` webhook, translated: the levels it
    reports, applied by the same rules as a sync (older than stored: ignored)."""

    # Only levels our columns hold; the others are moved to ``rejected``.
    levels: tuple[StockLevelRecord, ...]
    occurred_at: datetime | None = None
    rejected: tuple[RejectedLevel, ...] = ()
    # An item the event says the ERP deleted, as the ERP names it ("" when
    # none): nothing is applied from it, it is noted on the event for staff,
    # and a full sync decides its levels (services.sync_gone).
    gone: str = ""

    def __post_init__(self) -> None:
        without_rejected(self, "levels")


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
    # A full listing names every item the ERP has: one it no longer lists
    # was deleted there (inventory.services.sync_gone sets it to 0).
    lists_every_item: ClassVar[bool] = False
    # The ERP answers for one SKU (``item_levels_fetch``): a full run asks
    # it about each level it would set to 0 as gone before doing so (sync_gone).
    looks_up_items: ClassVar[bool] = False
    # A page may hold levels of the page before again (TradeGecko's
    # overlapping pages): the sync counts those once (``items_seen``).
    pages_overlap: ClassVar[bool] = False
    # How long the ERP remembers a purchase order upsert's key (None: for
    # ever, the order is keyed by our id). Past it, an upsert whose answer
    # was lost may place a second order: it is not sent again unasked.
    upsert_key_lifetime: ClassVar[timedelta | None] = None

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

    def purchase_order_found_at(
        self, external_reference: str, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult | None:
        """The order the ERP knows by ``external_reference``, which staff
        found for ``request``'s order ("Found at the ERP"); None when it has
        none. An ERP whose order carries its currency (NetSuite, TradeGecko)
        compares it with the order's first, as on a send: another is
        ``Rejected`` ``currency_mismatch`` (``erp_currency.held_check``); a
        look-up of its currency that failed after the order was answered is
        ``erp_currency.CurrencyNotLookedUp``."""
        return self.purchase_order_status(external_reference)

    def purchase_order_recorded(
        self, external_reference: str, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult | None:
        """The order we recorded under ``external_reference``, read again (a
        refresh, a send again's follow-back); None when the ERP has none. An
        ERP whose order carries its currency compares it with ``request``'s on
        every read, as on a send: an order recorded before that compare, or
        changed there since, is ``Rejected`` ``currency_mismatch``."""
        return self.purchase_order_status(external_reference)

    def purchase_order_held(
        self, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult | None:
        """The order the ERP holds under ``request.external_id``, asked before a
        send whose earlier answer was lost is repeated; None when it holds
        none, or (the default) when the ERP is not asked: its upsert key
        answers the first order again (TradeGecko's Idempotency-Key)."""
        return None

    def item_levels_fetch(self, sku: str) -> StockLevelPage:
        """The levels of the live item ``sku`` now (``looks_up_items``); its
        "no such live item" is ``Rejected`` ``not_found``. ``has_more``: the
        answer was cut, and proves no level it does not name gone."""
        raise NotImplementedError(f"{self.display_name} looks up no item")

    def item_levels(self, sku: str) -> StockLevelPage | None:
        """The item's levels as the ERP has them now; None when it has none."""
        return self.none_if_not_found(lambda: self.item_levels_fetch(sku))

    def purchase_order_reference_problem(self, external_reference: str) -> str | None:
        """Why ``external_reference`` cannot be one of this ERP's order ids
        (None when it can): staff type one in, and it is checked before any
        call. An ERP with ids of a known shape (TradeGecko's numbers) says."""
        return None

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

    def confirm(self, *, reference: str, idempotency_key: str) -> ConfirmResult:
        """The hold made under ``reference`` became a sale: its units leave
        the ERP's on hand, at the ERP's ``confirmed_at`` when its answer says.
        Confirming twice is not an error; a hold the ERP no longer has is
        ``Rejected`` ``not_found``."""
        raise NotImplementedError(f"{self.display_name} keeps no reservations")

    def parse_inventory_event(self, message: WebhookMessage) -> InventoryEvent | None:
        """Translate a verified webhook; None for event types we ignore."""
        return None

    def reports_levels(self, event_type: str) -> bool:
        """Whether a webhook of this type may report stock levels (then
        ``parse_inventory_event`` reads it). An ERP with event names of its
        own (TradeGecko's ``variant.*``) says so here."""
        return event_type == LEVELS_EVENT

    def webhook_handler(self, message_event_type: str) -> str | None:
        # The domain's handler is registered for inventory.updated alone:
        # the ERP's own names for it are routed there, not dropped.
        if self.reports_levels(message_event_type):
            message_event_type = LEVELS_EVENT
        return super().webhook_handler(message_event_type)
