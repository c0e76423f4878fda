"""The sandbox ERP: stock levels, purchase orders and holds kept in the
database (inventory.models.sandbox), reached through the account's
ProviderClient like a real ERP (docs/sandboxes-and-contracts.md).

Besides the faults every sandbox injects (outage, latency, error rate, a key
without ``sbx_``), the ``rate_limited`` setting answers every call as a 429
with ``Retry-After``. ``sandbox_erp_set_levels`` is the ERP changing its own
stock (a goods receipt, a count): it stamps the change and announces it as a
signed ``inventory.updated`` webhook. ``clock_ahead_seconds`` makes the
sandbox ERP's clock run that far ahead of ours (its stamps: level changes,
events, the time a confirm answers), as a real ERP's may.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from integrations.errors import NotProcessed, Rejected
from integrations.models import ProviderAccount
from integrations.providers.base import ConfigField
from integrations.providers.sandbox import SandboxAdapter
from integrations.webhooks.messages import WebhookMessage, iso_time
from inventory.models import SandboxErpHold, SandboxErpLevel, SandboxErpPurchaseOrder
from inventory.providers.base import (
    LEVELS_EVENT,
    ConfirmResult,
    InventoryAdapter,
    InventoryEvent,
    LevelsQuery,
    PurchaseOrderRequest,
    PurchaseOrderResult,
    PurchaseOrderStatus,
    ReserveRequest,
    ReserveResult,
    StockLevelPage,
    StockLevelRecord,
    cursor_from_offset,
    offset_cursor_after,
    offset_from_cursor,
)

UPDATED_EVENT = LEVELS_EVENT
RETRY_AFTER_SECONDS = 30


class SandboxInventoryAdapter(SandboxAdapter, InventoryAdapter):
    display_name = "Sandbox inventory"
    max_page_size = 1000
    supports_since = True
    supports_reservations = True
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        *SandboxAdapter.settings_fields,
        ConfigField(
            "rate_limited",
            "Simulate rate limiting",
            type="bool",
            required=False,
            default=False,
            help_text="Every call is answered 429 with Retry-After.",
        ),
        ConfigField(
            "clock_ahead_seconds",
            "Clock ahead of ours (seconds)",
            type="int",
            required=False,
            default=0,
            help_text="The sandbox ERP stamps its changes this far ahead.",
        ),
    )

    def erp_now(self) -> datetime:
        """The sandbox ERP's clock: ours, plus ``clock_ahead_seconds``."""
        ahead = self.setting("clock_ahead_seconds")
        seconds = ahead if isinstance(ahead, int) and not isinstance(ahead, bool) else 0
        return timezone.now() + timedelta(seconds=seconds)

    def simulate_call(self, *, read_timeout: float | None = None) -> None:
        super().simulate_call(read_timeout=read_timeout)
        if self.setting("rate_limited"):
            raise NotProcessed(
                "sandbox rate limit (simulated)",
                code="rate_limited",
                http_status=429,
                retry_after=RETRY_AFTER_SECONDS,
            )

    # --- Levels ----------------------------------------------------------------

    def levels(self, query: LevelsQuery) -> StockLevelPage:
        return self.sandbox_call("inventory_levels", lambda: self._levels(query))

    def cursor_after(self, query: LevelsQuery) -> str | None:
        return offset_cursor_after(query)

    def _levels(self, query: LevelsQuery) -> StockLevelPage:
        offset = offset_from_cursor(query.cursor)
        limit = max(1, min(query.limit, self.max_page_size))
        rows = SandboxErpLevel.objects.filter(account=self.account)
        if query.since is not None:
            rows = rows.filter(modified_at__gte=query.since)
        if query.skus:
            rows = rows.filter(sku__in=query.skus)
        # One row more than the page tells whether another page follows.
        fields = ("sku", "location_code", "on_hand", "modified_at")
        found = list(
            rows.order_by("pk").values_list(*fields)[offset : offset + limit + 1]
        )
        has_more = len(found) > limit
        records = tuple(StockLevelRecord(*row) for row in found[:limit])
        return StockLevelPage(
            records=records,
            next_cursor=cursor_from_offset(offset + limit) if has_more else "",
            has_more=has_more,
        )

    # --- Purchase orders ---------------------------------------------------------

    def purchase_order_upsert(
        self, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult:
        return self.sandbox_call(
            "purchase_order_upsert",
            lambda: self._upsert(request),
            idempotency_key=request.external_id,
        )

    def purchase_order_fetch(self, external_reference: str) -> PurchaseOrderResult:
        def fetch() -> PurchaseOrderResult:
            row = SandboxErpPurchaseOrder.objects.filter(
                account=self.account, reference=external_reference
            ).first()
            if row is None:
                raise Rejected(
                    "no such purchase order", code="not_found", http_status=404
                )
            return _po_result(row)

        return self.sandbox_call("purchase_order_status", fetch)

    def _upsert(self, request: PurchaseOrderRequest) -> PurchaseOrderResult:
        if not request.lines or any(line.quantity <= 0 for line in request.lines):
            raise Rejected(
                "a purchase order needs lines with positive quantities",
                code="invalid_request",
                http_status=400,
            )
        existing = self._po(request.external_id)
        if existing is not None:
            return _po_result(existing)
        try:
            with transaction.atomic():
                row = SandboxErpPurchaseOrder.objects.create(
                    account=self.account,
                    external_id=request.external_id,
                    reference=f"SPO-{uuid.uuid4().hex[:12].upper()}",
                    status=PurchaseOrderStatus.SENT,
                    supplier_code=request.supplier_code,
                    location_code=request.location_code,
                    currency=request.currency,
                    lines=[
                        {"sku": line.sku, "quantity": line.quantity}
                        for line in request.lines
                    ],
                )
        except IntegrityError:
            # A concurrent upsert under the same external id won.
            row = self._po(request.external_id)
            assert row is not None
        return _po_result(row)

    def _po(self, external_id: str) -> SandboxErpPurchaseOrder | None:
        return SandboxErpPurchaseOrder.objects.filter(
            account=self.account, external_id=external_id
        ).first()

    # --- Holds -------------------------------------------------------------------

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        return self.sandbox_call(
            "inventory_reserve",
            lambda: self._reserve(request),
            idempotency_key=request.idempotency_key,
        )

    def release(self, *, reference: str, idempotency_key: str) -> None:
        def release() -> None:
            SandboxErpHold.objects.filter(
                account=self.account, reference=reference
            ).update(released=True)

        self.sandbox_call("inventory_release", release, idempotency_key=idempotency_key)

    def confirm(self, *, reference: str, idempotency_key: str) -> ConfirmResult:
        return self.sandbox_call(
            "inventory_confirm",
            lambda: self._confirm(reference),
            idempotency_key=idempotency_key,
        )

    def _confirm(self, reference: str) -> ConfirmResult:
        """The held units leave on hand, once, stamped by the sandbox ERP's
        clock (answered as ``confirmed_at``): a confirmed hold is marked
        released, so confirming again changes nothing (and knows no time)."""
        with transaction.atomic():
            hold = (
                SandboxErpHold.objects.select_for_update()
                .filter(account=self.account, reference=reference)
                .first()
            )
            if hold is None:
                raise Rejected("no such hold", code="not_found", http_status=404)
            if hold.released:
                return ConfirmResult()
            stamp = self.erp_now()
            for line in hold.lines:
                SandboxErpLevel.objects.filter(
                    account=self.account,
                    sku=line["sku"],
                    location_code=line["location"],
                ).update(on_hand=F("on_hand") - line["qty"], modified_at=stamp)
            hold.released = True
            hold.save(update_fields=["released"])
        return ConfirmResult(confirmed_at=stamp)

    def _reserve(self, request: ReserveRequest) -> ReserveResult:
        with transaction.atomic():
            hold = SandboxErpHold.objects.filter(
                account=self.account, reference=request.reference
            ).first()
            if hold is None:
                for line in request.lines:
                    self._check_free(line.sku, line.location_code, line.quantity)
                hold = SandboxErpHold.objects.create(
                    account=self.account,
                    reference=request.reference,
                    external_reference=f"SHD-{uuid.uuid4().hex[:12].upper()}",
                    lines=[
                        {"sku": x.sku, "location": x.location_code, "qty": x.quantity}
                        for x in request.lines
                    ],
                )
        return ReserveResult(
            reference=hold.reference, external_reference=hold.external_reference
        )

    def _check_free(self, sku: str, location: str, quantity: int) -> None:
        level = (
            SandboxErpLevel.objects.select_for_update()
            .filter(account=self.account, sku=sku, location_code=location)
            .first()
        )
        held = sum(
            line["qty"]
            for hold in SandboxErpHold.objects.filter(
                account=self.account, released=False
            )
            for line in hold.lines
            if line["sku"] == sku and line["location"] == location
        )
        if level is None or level.on_hand - held < quantity:
            raise Rejected(
                f"not enough stock of {sku} at {location}",
                code="insufficient_stock",
                http_status=409,
            )

    # --- Webhooks ----------------------------------------------------------------

    def parse_inventory_event(self, message: WebhookMessage) -> InventoryEvent | None:
        if message.event_type != UPDATED_EVENT:
            return None
        data = message.payload.get("data") or {}
        levels = tuple(_event_record(item) for item in data.get("levels", []))
        return InventoryEvent(levels=levels, occurred_at=message.occurred_at)


def sandbox_erp_set_levels(
    *, account: ProviderAccount, levels: Iterable[tuple[str, str, int]]
) -> list[StockLevelRecord]:
    """The sandbox ERP changes its own stock (sku, location, on hand): the
    rows are stamped now (by its clock) and announced as one
    ``inventory.updated`` webhook."""
    adapter = SandboxInventoryAdapter(account)
    now = adapter.erp_now()
    records = []
    for sku, location, on_hand in levels:
        SandboxErpLevel.objects.update_or_create(
            account=account,
            sku=sku,
            location_code=location,
            defaults={"on_hand": on_hand, "modified_at": now},
        )
        records.append(StockLevelRecord(sku, location, on_hand, now))
    adapter.deliver_webhook(UPDATED_EVENT, event_data(records))
    return records


def sandbox_erp_total_held(*, account: ProviderAccount) -> int:
    """Units the sandbox ERP's open holds cover (for tests and the demo)."""
    holds = SandboxErpHold.objects.filter(account=account, released=False)
    return sum(line["qty"] for hold in holds for line in hold.lines)


def event_data(records: Iterable[StockLevelRecord]) -> dict[str, Any]:
    """The ``data`` of an ``inventory.updated`` webhook the sandbox posts."""
    return {
        "levels": [
            {
                "sku": r.sku,
                "location": r.location_code,
                "on_hand": r.on_hand,
                "modified_at": r.modified_at.isoformat() if r.modified_at else None,
            }
            for r in records
        ]
    }


def _event_record(item: dict[str, Any]) -> StockLevelRecord:
    return StockLevelRecord(
        sku=str(item["sku"]),
        location_code=str(item["location"]),
        on_hand=int(item["on_hand"]),
        modified_at=iso_time(item.get("modified_at")),
    )


def _po_result(row: SandboxErpPurchaseOrder) -> PurchaseOrderResult:
    return PurchaseOrderResult(
        external_reference=row.reference,
        status=PurchaseOrderStatus(row.status),
        external_id=row.external_id,
        raw_status=row.status,
    )


__all__ = [
    "SandboxInventoryAdapter",
    "event_data",
    "sandbox_erp_set_levels",
    "sandbox_erp_total_held",
]
