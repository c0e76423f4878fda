"""The generic HTTP stock service: for shops that run their own stock system
and implement the small JSON API Switchyard defines (docs/providers/
inventory.md, "Generic HTTP stock service"): levels for a list of SKUs, 50 at
a time; holds made, released and confirmed by reference; an ``inventory.updated``
webhook signed with Standard Webhooks."""

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings

from integrations.client.redirects import SAME_ORIGIN, redirect_error
from integrations.errors import ConfigurationError, ProviderError, Rejected, Unknown
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.providers.http import HttpAdapter
from integrations.webhooks.messages import (
    WebhookMessage,
    iso_time,
    json_object,
    required_str,
)
from integrations.webhooks.verification import (
    VerifiedRequest,
    stored_standard_webhook,
    verify_standard_webhook,
)
from inventory.providers.base import (
    LEVELS_EVENT,
    ConfirmResult,
    InventoryAdapter,
    InventoryEvent,
    LevelsQuery,
    PurchaseOrderRequest,
    PurchaseOrderResult,
    ReserveRequest,
    ReserveResult,
    StockLevelPage,
    StockLevelRecord,
    UnreadableLevel,
    cursor_from_offset,
    offset_from_cursor,
    readable_levels,
)

UPDATED_EVENT = LEVELS_EVENT
BATCH_SIZE = 50
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def stock_error_map(response: requests.Response) -> ProviderError | None:
    """The service's ``{"error": {"code", "message"}}`` on a 4xx: a refused
    hold names the SKU and what is available. 401/403/429/5xx keep the
    client's defaults."""
    status = response.status_code
    if 300 <= status < 400:
        # One the client did not follow (no Location): not an answer.
        return redirect_error(response)
    if status < 400 or status >= 500 or status in (401, 403, 429):
        return None
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        code, message = "", f"HTTP {status}"
    our_code = code if code == "insufficient_stock" else _by_status(status)
    return Rejected(
        f"The stock service refused the request: {message}"[:500],
        code=our_code,
        http_status=status,
        provider_code=code or None,
    )


def _by_status(status: int) -> str:
    return {404: "not_found", 409: "conflict"}.get(status, "invalid_request")


class HttpStockAdapter(HttpAdapter, InventoryAdapter):
    code = "http_stock"
    display_name = "HTTP stock service"
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "base_url",
            "Service URL",
            type="url",
            help_text="e.g. https://stock.shop.example/api. Kept with the key, "
            "so the key only goes where it was entered for.",
        ),
        ConfigField("api_key", "API key"),
        ConfigField(
            "webhook_secret",
            "Webhook secret",
            required=False,
            help_text="Standard Webhooks secret (whsec_...) signing inventory.updated.",
        ),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "auth_header",
            "Auth header",
            required=False,
            default="Authorization",
            help_text="Header carrying the key.",
        ),
        ConfigField(
            "auth_scheme",
            "Auth scheme",
            required=False,
            default="Bearer",
            help_text="Word before the key; 'none' sends the key alone.",
        ),
    )
    max_page_size: ClassVar[int] = BATCH_SIZE
    levels_by_sku: ClassVar[bool] = True
    supports_reservations: ClassVar[bool] = True
    # The spec requires the service to answer a repeated Idempotency-Key
    # with its first answer.
    replays_writes = True
    default_headers: ClassVar[Mapping[str, str]] = {
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    # The key rides in a header of the shop's choosing: a redirect off the
    # service's origin is refused, naming where it pointed, not followed bare.
    redirects = SAME_ORIGIN
    webhook_signing_credential = "webhook_secret"
    webhook_signs_body = True  # its signature covers the raw bytes
    webhook_signature_header = "webhook-signature"

    @property
    def base_url(self) -> str:
        url = self.credential("base_url").rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                "HTTP stock service credential 'base_url' is not an http(s) URL",
                code="missing_credentials",
            )
        return url

    def auth_headers(self) -> dict[str, str]:
        name = str(self.setting("auth_header") or "Authorization")
        if not _HEADER_NAME.match(name):
            raise ConfigurationError(
                "HTTP stock service setting 'auth_header' is not a header name",
                code="missing_credentials",
            )
        scheme = str(self.setting("auth_scheme") or "").strip()
        key = self.credential("api_key")
        return {name: key if scheme.lower() in ("", "none") else f"{scheme} {key}"}

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return stock_error_map(response)

    def health_check(self) -> HealthResult:
        self.send("GET", "/health", operation="health_check")
        return HealthResult(ok=True, detail="stock service answered")

    # --- Levels ------------------------------------------------------------------

    def levels(self, query: LevelsQuery) -> StockLevelPage:
        """The named SKUs, at most 50 per call; the cursor is the offset into
        ``query.skus``."""
        if not query.skus:
            raise Rejected(
                "the stock service answers only for named SKUs",
                code="invalid_request",
            )
        offset = offset_from_cursor(query.cursor)
        size = max(1, min(query.limit, BATCH_SIZE))
        batch = list(query.skus[offset : offset + size])
        data = self.send("GET", "/levels", operation="levels", params={"sku": batch})
        rows = data.get("levels")
        if not isinstance(rows, list):
            raise Unknown("the stock service sent no levels", code="malformed_response")
        has_more = offset + size < len(query.skus)
        records, rejected = readable_levels(level_record, rows)
        return StockLevelPage(
            records=records,
            next_cursor=cursor_from_offset(offset + size) if has_more else "",
            has_more=has_more,
            rejected=rejected,
        )

    # --- Holds -------------------------------------------------------------------

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        body: dict[str, Any] = {
            "reference": request.reference,
            "lines": [
                {"sku": x.sku, "location": x.location_code, "quantity": x.quantity}
                for x in request.lines
            ],
        }
        if request.expires_at is not None:
            body["expires_at"] = request.expires_at.isoformat()
        data = self.send(
            "POST",
            "/reservations",
            operation="reserve",
            json=body,
            idempotency_key=request.idempotency_key,
        )
        hold = data.get("id")
        if not isinstance(hold, str) or not hold:
            raise Unknown(
                "the stock service sent no hold id", code="malformed_response"
            )
        return ReserveResult(reference=request.reference, external_reference=hold)

    def release(self, *, reference: str, idempotency_key: str) -> None:
        path = f"/reservations/{quote(reference, safe='')}/release"
        # A hold the service no longer has is already released.
        self.none_if_not_found(
            lambda: self.send(
                "POST",
                path,
                operation="release",
                idempotency_key=idempotency_key,
                allow_empty=True,
            )
        )

    def confirm(self, *, reference: str, idempotency_key: str) -> ConfirmResult:
        """The answer's optional ``confirmed_at`` is the service's own time
        of taking the units off (its levels' ``modified_at`` from then on);
        absent or unreadable, none is known."""
        path = f"/reservations/{quote(reference, safe='')}/confirm"
        data = self.send(
            "POST",
            path,
            operation="confirm",
            idempotency_key=idempotency_key,
            allow_empty=True,
        )
        return ConfirmResult(confirmed_at=iso_time(data.get("confirmed_at")))

    # --- Purchase orders: not in the spec ----------------------------------------

    def purchase_order_upsert(
        self, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult:
        raise Rejected(_NO_PURCHASE_ORDERS, code="not_supported")

    def purchase_order_fetch(self, external_reference: str) -> PurchaseOrderResult:
        raise Rejected(_NO_PURCHASE_ORDERS, code="not_supported")

    # --- Webhooks ----------------------------------------------------------------

    def check_webhook_signature(self, request: SignedRequest) -> VerifiedRequest:
        return verify_standard_webhook(
            secret=request.secret,
            body=request.body,
            headers=request.headers,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )

    def webhook_stored_verified(self, request: SignedRequest) -> VerifiedRequest:
        return stored_standard_webhook(request.headers)

    def webhook_message(
        self, request: SignedRequest, verified: VerifiedRequest
    ) -> WebhookMessage:
        payload = json_object(request.body, what="a stock service event")
        return WebhookMessage.build(
            event_type=required_str(payload, "type", what="stock service event"),
            dedupe_key=verified.webhook_id,
            payload=payload,
            occurred_at=iso_time(payload.get("timestamp")),
        )

    def parse_inventory_event(self, message: WebhookMessage) -> InventoryEvent | None:
        if message.event_type != UPDATED_EVENT:
            return None
        data = message.payload.get("data")
        rows = data.get("levels") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise Unknown("inventory.updated carries no levels", code="malformed_event")
        levels, rejected = readable_levels(level_record, rows)
        return InventoryEvent(
            levels=levels, occurred_at=message.occurred_at, rejected=rejected
        )


_NO_PURCHASE_ORDERS = "the generic stock service takes no purchase orders"


def level_record(row: object) -> StockLevelRecord:
    """One ``{"sku", "location", "on_hand", "modified_at"}`` entry;
    ``UnreadableLevel`` when it is not one."""
    if not isinstance(row, dict):
        row = {}
    sku, location, on_hand = row.get("sku"), row.get("location"), row.get("on_hand")
    if not (isinstance(sku, str) and sku and isinstance(location, str)):
        raise UnreadableLevel(
            "no sku or location", sku=sku or "", location_code=location or ""
        )
    if not isinstance(on_hand, int) or isinstance(on_hand, bool):
        # 3.0 too: a figure that is not a whole number of units is not ours
        # to round (up, stock we may not have).
        raise UnreadableLevel(
            "on_hand: not a whole number", sku=sku, location_code=location
        )
    return StockLevelRecord(
        sku=sku,
        location_code=location,
        on_hand=on_hand,
        modified_at=iso_time(row.get("modified_at")),
    )
