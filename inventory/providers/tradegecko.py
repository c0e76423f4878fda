"""TradeGecko (API v1, OAuth bearer token) as JSON over HTTP on the shared
client: variants and their stock per location, purchase orders, and its
signed webhooks. TradeGecko (later QuickBooks Commerce) shut down in 2023;
the adapter keeps to its documented API for shops migrating old data.
docs/providers/inventory.md."""

from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any, ClassVar

import requests

from integrations.client import response_json
from integrations.errors import NotProcessed, ProviderError, Rejected, Unknown
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.providers.http import HttpAdapter
from integrations.webhooks.messages import (
    WebhookMessage,
    json_object,
    required_header,
    required_str,
    unix_time,
)
from integrations.webhooks.signing import hmac_base64, require_match
from inventory.providers.base import (
    InventoryAdapter,
    InventoryEvent,
    LevelsQuery,
    PurchaseOrderRequest,
    PurchaseOrderResult,
    PurchaseOrderStatus,
    RejectedLevel,
    StockLevelPage,
    StockLevelRecord,
    level_problem,
)
from inventory.providers.erp_currency import (
    HeldInAnotherCurrency,
    currency_ref,
    forget_currency_ref,
    held_check,
    looked_up_after_the_order,
)
from inventory.providers.tradegecko_errors import tradegecko_error_map
from inventory.providers.tradegecko_paging import (
    ASCENDING,
    PageCursor,
    boundary_held,
    has_more,
    held_before,
    id_text,
    listing_total,
    look_up_page,
    read_again,
    sku_pages,
)
from inventory.providers.tradegecko_records import (
    is_id,
    is_number,
    numeric_id,
    object_of,
    order_result,
    path_id,
    rows_of,
    variant_event_id,
    wanted_skus,
)
from inventory.providers.tradegecko_variants import (
    is_live,
    levels_read,
    not_live_why,
)

SIGNATURE_HEADER = "X-Gecko-Signature"
DELIVERY_HEADER = "X-Gecko-Delivery"
# TradeGecko's largest page (default 50).
MAX_PAGE_SIZE = 250
# ISO 4217 has fewer than 200 currencies: one page. An account listing
# more than these pages is refused as such, never as "no such currency".
CURRENCY_PAGES = 40
# A send again under the key answers the first result for its 24 hours.
# Short: with two 19-digit ids the refusal is 254 of last_error's 255.
CORRECTED_THEN = 'then "Found at the ERP" once unresolved (past the key\'s 24 h)'
# An order we recorded (a refresh, a send again's follow-back): read again.
RECORDED_THEN = "then refresh the order"


class TradeGeckoAdapter(HttpAdapter, InventoryAdapter):
    code = "tradegecko"
    display_name = "TradeGecko"
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "access_token",
            "Access token",
            help_text="An OAuth access token (or privileged access token).",
        ),
        ConfigField(
            "app_secret",
            "Application secret",
            required=False,
            help_text="The OAuth application's secret; signs its webhooks.",
        ),
    )
    base_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://api.tradegecko.com",
        "live": "https://api.tradegecko.com",
    }
    max_page_size: ClassVar[int] = MAX_PAGE_SIZE
    supports_since: ClassVar[bool] = True
    # A deleted variant's webhook names only its id (its read-back is a
    # 404, or archived: not always with a location to zero): only its
    # absence from a full listing tells every level of its SKU is gone.
    lists_every_item: ClassVar[bool] = True
    # One restored with its old id after its page was read is not listed
    # by the run either: asked by SKU before it is set to 0.
    looks_up_items: ClassVar[bool] = True
    # A full run's next page starts before the place the page before ended
    # (tradegecko_paging): its levels read again are counted once.
    pages_overlap: ClassVar[bool] = True
    # 300 requests per 300 seconds per application and account, shared by
    # every client of the token: a full burst plus a window's refill (20 +
    # 0.6 x 300) takes two thirds. An account sets its own share with the
    # limiter's rate and burst (0.9 and 30: the whole window).
    default_limits: ClassVar[Mapping[str, float]] = {
        "rate_limit_per_second": 0.6,
        "rate_limit_burst": 20,
    }
    # TradeGecko performs a POST carrying the same Idempotency-Key once
    # (keys live 24 hours) and answers the first result again.
    replays_writes = True
    # Its purchase order listing has no filter by our reference_number
    # (provider spec): past the key's life a lost answer is left to staff.
    upsert_key_lifetime: ClassVar[timedelta | None] = timedelta(hours=24)
    default_headers: ClassVar[Mapping[str, str]] = {
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    webhook_signing_credential = "app_secret"
    webhook_signs_body = True  # its signature covers the raw bytes
    webhook_signature_header = SIGNATURE_HEADER

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential('access_token')}"}

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return tradegecko_error_map(response)

    def health_check(self) -> HealthResult:
        self.send("GET", "/locations", operation="health_check", params={"limit": 1})
        return HealthResult(ok=True, detail="locations answered")

    # --- Levels ------------------------------------------------------------------

    def levels(self, query: LevelsQuery) -> StockLevelPage:
        wanted = wanted_skus(query.skus)
        cursor = PageCursor.parse(query.cursor, full=query.since is None)
        size = max(1, min(query.limit, MAX_PAGE_SIZE))
        page, limit = cursor.request(size)
        # Its default order is by no key (provider spec): a write can move a
        # variant between pages. By id (the index filter "order"), only a
        # variant leaving the listing moves one past the next page
        # (tradegecko_paging).
        params: dict[str, Any] = {"limit": limit, "page": page, "order": cursor.order}
        if query.since is not None:
            params["updated_at_min"] = query.since.astimezone(UTC).isoformat()
        variants, total = self._variants(params, "levels")
        records: list[StockLevelRecord] = []
        rejected: list[RejectedLevel] = []
        held = held_before(cursor.last, variants, descending=cursor.descending)
        for place, variant in enumerate(variants):
            sku = variant.get("sku")
            # Archived (its default leaves these out): gone, as read back.
            if not is_live(variant):
                continue
            # The ERP's SKU may be any JSON value: only text can be wanted.
            if not wanted or (isinstance(sku, str) and sku in wanted):
                kept, refused = levels_read(variant)
                if place < held:
                    # The page before refused (counted, listed) its others.
                    kept = tuple(r for r in kept if level_problem(r) is None)
                    refused = ()
                records += kept
                rejected += refused
        more = has_more(total, page=page, limit=limit, count=len(variants))
        shifted, proven = self._boundary(cursor, params, total, variants)
        return StockLevelPage(
            records=tuple(records),
            next_cursor=cursor.following(total, variants, (page, limit, size))
            if more
            else "",
            has_more=more,
            rejected=tuple(rejected),
            total=total,
            shifted=shifted,
            boundary_proven=proven,
        )

    def _variants(
        self, params: dict[str, Any], operation: str
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of ``/variants`` and the listing's size (``listing_total``)."""
        return self._index_page("variants", params, operation)

    def _index_page(
        self, index: str, params: dict[str, Any], operation: str
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of the index ``/<index>`` (its records under ``index``) and
        the listing's size (``listing_total``)."""
        response = self.send_response(
            "GET", f"/{index}", operation=operation, params=params, expect_json=True
        )
        data = response_json(response)
        if not isinstance(data, dict):
            raise Unknown(f"TradeGecko sent no {index} list", code="malformed_response")
        return rows_of(data, index), listing_total(response.headers, data)

    def _boundary(
        self,
        cursor: PageCursor,
        params: dict[str, Any],
        total: int | None,
        variants: list[dict[str, Any]],
    ) -> tuple[bool, bool]:
        """(shifted, proven) for the boundary before this page. The page
        before's last variant read again here (an overlapping page, a
        creation before it) proves it, whatever the total did. Otherwise it
        is checked by its place, the total fallen or not: a fall is often one
        deletion the boundary absorbed (page 2 overlaps by one place), a
        steady total proves nothing (tradegecko_paging). With no last
        variant to look for (after a failed page) only a fall marks it."""
        if read_again(cursor.last, variants):
            return False, True
        if cursor.last:
            moved = self._boundary_moved(params, cursor.last, variants)
            return moved, not moved
        return cursor.shrank(total), False

    def _boundary_moved(
        self, params: dict[str, Any], last: str, variants: list[dict[str, Any]]
    ) -> bool:
        """Whether a variant may have been skipped between the page before's
        last (id ``last``, not on this page: ``read_again``) and this page:
        a deletion before it moved this page's first variant onto that page,
        already read. The place before this page and its first place are
        asked in one answer (paged by number only: the smallest page holding
        both), which must show ``last`` directly followed by this page's
        first (``boundary_held``)."""
        start = (params["page"] - 1) * params["limit"]
        if start < 1:
            return True  # no place before it: not where ``last`` was read
        page, limit = look_up_page(start)
        probe = {**params, "limit": limit, "page": page}
        data = self.send("GET", "/variants", operation="levels", params=probe)
        first = id_text(variants[0]) if variants else ""
        if variants and not first:
            return True
        return not boundary_held(rows_of(data, "variants"), last, first, limit)

    def cursor_after(self, query: LevelsQuery) -> str | None:
        # Page numbers: a sync can step past a page that failed (with the
        # same page to compare with: an ERP that ignores paging fails each).
        cursor = PageCursor.parse(query.cursor, full=query.since is None)
        return cursor.after_failed(max(1, min(query.limit, MAX_PAGE_SIZE)))

    # --- Purchase orders ---------------------------------------------------------

    def purchase_order_upsert(
        self, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult:
        """POST with an Idempotency-Key made from our external id: the same
        request again (within TradeGecko's 24 hours) answers the same order."""
        variants, currency_id = self._look_ups(request)
        lines = [
            {
                "variant_id": variants[line.sku],
                "quantity": str(line.quantity),
                **(
                    {
                        "price": self.to_provider_decimal(
                            line.unit_cost, request.currency
                        )
                    }
                    if line.unit_cost
                    else {}
                ),
            }
            for line in request.lines
        ]
        order: dict[str, Any] = {
            "company_id": numeric_id(request.supplier_code, "supplier"),
            "stock_location_id": numeric_id(request.location_code, "location"),
            "reference_number": request.external_id,
            # Left out, TradeGecko reads the prices in the account's default.
            "currency_id": currency_id,
            "status": "active",
            "purchase_order_line_items": lines,
        }
        if request.memo:
            order["notes"] = request.memo
        if request.expected_at is not None:
            order["due_at"] = request.expected_at.astimezone(UTC).date().isoformat()
        data = self.send(
            "POST",
            "/purchase_orders",
            operation="purchase_order_upsert",
            json={"purchase_order": order},
            idempotency_key=f"po-{request.external_id}",
        )
        return self._in_currency(
            object_of(data, "purchase_order"), request, currency_id
        )

    def _look_ups(self, request: PurchaseOrderRequest) -> tuple[dict[str, int], int]:
        """Each line's variant id and the currency's id, asked before the
        POST: a look-up whose answer was lost or unreadable placed no order,
        so it is not processed (a send that may have placed one starts its
        key's 24 hours)."""
        try:
            skus = {x.sku for x in request.lines}
            variants = {sku: self.variant_id(sku) for sku in skus}
            return variants, int(
                currency_ref(self, request.currency, self._currency_listed)
            )
        except Unknown as error:
            raise NotProcessed(
                error.message, code=error.code, http_status=error.http_status
            ) from error

    def _currency_listed(self, code: str) -> str | None:
        # Its currencies index (``iso``, ``id``), paged as any index to its
        # end: a short page ends it only where no total says more
        # (``has_more``). None only once every page was read.
        read = CURRENCY_PAGES * MAX_PAGE_SIZE
        for page in range(1, CURRENCY_PAGES + 1):
            params = {"limit": MAX_PAGE_SIZE, "page": page}
            listed, total = self._index_page(
                "currencies", params, "tradegecko_currency"
            )
            for currency in listed:
                if currency.get("iso") == code and is_id(currency.get("id")):
                    return str(currency["id"])
            if not has_more(total, page=page, limit=MAX_PAGE_SIZE, count=len(listed)):
                return None
            if total is not None and total > read:
                break  # more than will be read: said now, not pages later
        raise Unknown(
            f"TradeGecko lists more currencies than the look-up reads ({read}); "
            f"{code} was not among those read: send the order again, or ask "
            "TradeGecko why its currency list is this long",
            code="currency_lookup_cut",
        )

    def purchase_order_fetch(self, external_reference: str) -> PurchaseOrderResult:
        return order_result(self._purchase_order(external_reference))

    def _purchase_order(self, external_reference: str) -> dict[str, Any]:
        data = self.send(
            "GET",
            f"/purchase_orders/{path_id(external_reference)}",
            operation="get_purchase_order",
        )
        return object_of(data, "purchase_order")

    def purchase_order_found_at(
        self, external_reference: str, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult | None:
        # Each order carries its own currency_id (the account's default
        # apart): one keyed in under our reference, or changed there, may be
        # in another. Compared as NetSuite's is; another order's is not ours.
        order = self.none_if_not_found(lambda: self._purchase_order(external_reference))
        if order is None:
            return None
        found = order_result(order)
        if found.external_id != request.external_id:
            return found
        return self._compared(order, request)

    def purchase_order_recorded(
        self, external_reference: str, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult | None:
        # Ours by the id we stored (its reference_number may be edited there).
        order = self.none_if_not_found(lambda: self._purchase_order(external_reference))
        if order is None:
            return None
        found = order_result(order)
        if found.status == PurchaseOrderStatus.CANCELLED:
            # Nothing to receive or pay: recorded so whatever its currency,
            # even one no longer listed (never refused for ever).
            return found
        wanted = currency_ref(self, request.currency, self._currency_listed)
        # A mismatch keeps the id its hour (a send's drops it): such orders
        # stay sent, read on every schedule run, a currency list apiece else.
        return self._in_currency(
            order, request, int(wanted), then=RECORDED_THEN, keep_id=True
        )

    def _compared(
        self, order: dict[str, Any], request: PurchaseOrderRequest
    ) -> PurchaseOrderResult:
        with looked_up_after_the_order():
            wanted = currency_ref(self, request.currency, self._currency_listed)
        return self._in_currency(order, request, int(wanted))

    def _in_currency(
        self,
        order: dict[str, Any],
        request: PurchaseOrderRequest,
        wanted: int,
        then: str = CORRECTED_THEN,
        keep_id: bool = False,
    ) -> PurchaseOrderResult:
        """``request``'s order as TradeGecko holds it, once its ``currency_id``
        is ``wanted``, the order's (``held_check``, as NetSuite's); another
        drops the id kept for ``wanted`` unless ``keep_id``."""
        found = order_result(order)
        shown = order.get("currency_id")
        cancelled = found.status == PurchaseOrderStatus.CANCELLED
        if not is_id(shown) and not cancelled:
            # Every order carries one (no single-currency mode as NetSuite's):
            # without it the order's currency is not known, so not recorded.
            raise Unknown(
                "TradeGecko sent a purchase order without its currency_id",
                code="malformed_response",
            )
        try:
            held_check(
                self,
                request,
                str(shown) if is_id(shown) else None,
                str(wanted),
                cancelled=cancelled,
                then=then,
            )
        except HeldInAnotherCurrency:
            # Nothing kept, as NetSuite's: the id kept an hour may be stale.
            if not keep_id:
                forget_currency_ref(self, request.currency)
            raise
        return found

    def purchase_order_reference_problem(self, external_reference: str) -> str | None:
        if is_number(external_reference):
            return None
        return "TradeGecko order ids are numbers (ASCII digits)."

    def variant_id(self, sku: str) -> int:
        matches, cut = self._live_variants(sku)
        if not matches and cut:
            # No order placed (the draft may be sent again); told to staff,
            # as unknown_sku is: the SKU names too many variants to read.
            raise Rejected(
                f"TradeGecko lists too many variants with SKU {sku} to read"[:200],
                code="lookup_cut",
            )
        if not matches or not isinstance(matches[0].get("id"), int):
            raise Rejected(
                f"TradeGecko has no variant with SKU {sku}"[:200], code="unknown_sku"
            )
        return matches[0]["id"]

    def item_levels_fetch(self, sku: str) -> StockLevelPage:
        """Its live variants' levels (as the listing reads them); a cut
        answer (``sku_pages``) is ``has_more``."""
        matches, cut = self._live_variants(sku)
        if not matches and not cut:
            raise Rejected("TradeGecko has no live variant", code="not_found")
        read = [levels_read(variant) for variant in matches]
        return StockLevelPage(
            records=tuple(r for kept, _ in read for r in kept),
            rejected=tuple(r for _, refused in read for r in refused),
            has_more=cut,
        )

    def _live_variants(self, sku: str) -> tuple[list[dict[str, Any]], bool]:
        """Its live variants, and whether the answer was cut. A SKU may name
        archived variants too (one deleted, one anew): the index filter
        ``sku`` is paged as any index (default 50), so every page is read,
        the largest asked, in id order (its default order is by no key)."""

        def ask(page: int) -> tuple[list[dict[str, Any]], int | None]:
            params = {"sku": sku, "limit": MAX_PAGE_SIZE, "page": page}
            try:
                return self._variants(
                    {**params, "order": ASCENDING}, "tradegecko_variant"
                )
            except Rejected as error:
                # Page 1 listed variants: a later page's 404 is a look-up
                # that failed, not "no such item" (which proves it gone).
                if page == 1 or error.code != "not_found":
                    raise
                raise Unknown(
                    f"TradeGecko lost page {page} of the variants with SKU {sku}"[:200],
                    code="lookup_failed",
                ) from error

        variants, cut = sku_pages(ask, MAX_PAGE_SIZE)
        return [v for v in variants if v.get("sku") == sku and is_live(v)], cut

    # --- Webhooks ----------------------------------------------------------------

    def check_webhook_signature(self, request: SignedRequest) -> None:
        # Base64 HMAC-SHA256 of the body with the application's secret. No
        # delivery time is signed and TradeGecko retries the same body for
        # days, so replays are stopped by the delivery id, not a window.
        expected = hmac_base64(request.secret, request.body)
        require_match(expected, [request.signature], param=SIGNATURE_HEADER)

    def webhook_message(self, request: SignedRequest, verified: None) -> WebhookMessage:
        payload = json_object(request.body, what="a TradeGecko event")
        return WebhookMessage.build(
            event_type=required_str(payload, "event", what="TradeGecko event"),
            dedupe_key=required_header(request.headers, DELIVERY_HEADER),
            payload=payload,
            occurred_at=unix_time(payload.get("timestamp")),
        )

    def reports_levels(self, event_type: str) -> bool:
        # A variant.* event names a variant whose stock may have changed.
        return event_type.startswith("variant.")

    def parse_inventory_event(self, message: WebhookMessage) -> InventoryEvent | None:
        """A ``variant.*`` event names the variant, not its stock: its levels
        are read back. Once the variant is gone (the read-back's 404:
        ``variant.destroy``, or a later event of it) there is no SKU to apply:
        the event names the variant as gone. Soft-deleted (read back
        ``archived``), its levels are 0 where it names them, whatever stock
        it still shows, off sale (``for_sale``: units sold here kept, as the
        full listing's gone path keeps them); naming none, it is gone as on
        a 404."""
        if not self.reports_levels(message.event_type):
            return None
        object_id = variant_event_id(message.payload.get("object_id"))
        data = self.none_if_not_found(
            lambda: self.send(
                "GET", f"/variants/{object_id}", operation="tradegecko_variant"
            )
        )
        if data is None:
            return InventoryEvent(
                levels=(), occurred_at=message.occurred_at, gone=f"variant {object_id}"
            )
        variant = object_of(data, "variant")
        live = is_live(variant)
        levels, rejected = levels_read(variant)
        if not live and not levels:
            return InventoryEvent(
                levels=(),
                occurred_at=message.occurred_at,
                gone=f"variant {object_id} ({not_live_why(variant)})",
            )
        return InventoryEvent(
            levels=levels, occurred_at=message.occurred_at, rejected=rejected
        )
