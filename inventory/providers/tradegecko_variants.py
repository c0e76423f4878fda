"""TradeGecko's variant records read as stock levels: whether TradeGecko
still has a variant, whether the shop may sell it, and its levels per
location (the listing, the look-up by SKU and the webhook read-back alike)."""

from collections.abc import Mapping
from typing import Any

from integrations.webhooks.messages import iso_time
from inventory.providers.base import (
    RejectedLevel,
    StockLevelRecord,
    UnreadableLevel,
    readable_levels,
    whole_units,
)


def is_live(variant: Mapping[str, Any]) -> bool:
    """Whether TradeGecko still has the variant: neither it nor its product
    soft-deleted. A variant's status is 'active' or 'archived', its
    product's 'active', 'disabled' or 'archived' (tradegecko/smaug); any
    other stated variant status is not live. None stated: live, as listed."""
    status = variant.get("status")
    return status in (None, "active") and variant.get("product_status") != "archived"


def for_sale(variant: Mapping[str, Any]) -> bool:
    """Whether the shop may sell the variant's stock: live, its product not
    ``disabled``, and the variant ``sellable`` ("can be added to sales
    orders": tradegecko/smaug; documented a string, recorded a boolean).
    Not for sale, its levels read as 0 where it names them (a live one's
    never gone): for sale again or restored, the next read applies them."""
    sellable = variant.get("sellable")
    off = sellable is False or (isinstance(sellable, str) and sellable == "false")
    return is_live(variant) and variant.get("product_status") != "disabled" and not off


def levels_read(
    variant: Mapping[str, Any],
) -> tuple[tuple[StockLevelRecord, ...], tuple[RejectedLevel, ...]]:
    """Its levels as read: its stock, or off sale (``for_sale``: archived,
    its product disabled, or not sellable) 0 where it names a location."""
    return variant_levels(variant, selling=for_sale(variant))


def not_live_why(variant: Mapping[str, Any]) -> str:
    if variant.get("product_status") == "archived":
        return "its product archived"
    return f"status {str(variant.get('status'))[:40]}"


def variant_levels(
    variant: Mapping[str, Any], *, selling: bool = True
) -> tuple[tuple[StockLevelRecord, ...], tuple[RejectedLevel, ...]]:
    """One record per location of a variant that has a SKU (TradeGecko allows
    variants without one; nothing can be keyed on them); a location row we
    cannot read (its recorded rows are objects with an integer
    ``location_id`` and a ``stock_on_hand``) is a rejected level, noted with
    its page or event, never a failed page or event nor dropped unsaid.
    Not ``selling`` (off sale or archived): 0 at each location, whatever its
    figure, and not a figure of TradeGecko's (``StockLevelRecord.for_sale``
    False): units sold here that it does not show yet stay booked, as a
    level gone from a full listing keeps them (services.sync_gone)."""
    sku = variant.get("sku")
    if not isinstance(sku, str) or not sku:
        return (), ()
    # Absent or null: stocked nowhere. Any other non-list ({}, "", false) is
    # an odd shape, refused with a note rather than read as no locations.
    locations = variant.get("locations")
    if locations is None:
        locations = []
    modified = iso_time(variant.get("updated_at"))

    def record(row: object) -> StockLevelRecord:
        if row is None:
            raise UnreadableLevel("locations: not a list", sku=sku)
        code, figure = _location_row(row, sku, figure_needed=selling)
        return StockLevelRecord(
            sku=sku,
            location_code=code,
            on_hand=whole_units(
                figure, field="stock_on_hand", sku=sku, location_code=code
            )
            if selling
            else 0,
            modified_at=modified,
            for_sale=selling,
        )

    rows = locations if isinstance(locations, list) else [None]
    return readable_levels(record, rows)


def _location_row(
    row: object, sku: str, *, figure_needed: bool = True
) -> tuple[str, object]:
    """The row's location id as our code, and its figure; ``UnreadableLevel``
    for a row that is not an object, names no integer location or has no
    figure where one is needed (an absent one is not 0: that would zero the
    level)."""
    if not isinstance(row, dict):
        raise UnreadableLevel("locations: a level that is not an object", sku=sku)
    location = row.get("location_id")
    if not isinstance(location, int) or isinstance(location, bool):
        raise UnreadableLevel("location_id: not a TradeGecko id", sku=sku)
    if figure_needed and "stock_on_hand" not in row:
        raise UnreadableLevel(
            "stock_on_hand: missing", sku=sku, location_code=str(location)
        )
    return str(location), row.get("stock_on_hand")
