"""Set-up shared by the tests of ERP listings read page by page (TradeGecko's
numbered pages, NetSuite's offsets): a TradeGecko variant record as its API
lists it, an account tried once per call with pages of two, and the levels a
sync left."""

from inventory.models import StockLevel
from tests.inventory.factories import LocationFactory

OLD = "2026-11-01T08:00:00.000Z"


def gecko_variant(variant_id: int, sku: str, stock: int, updated: str = OLD) -> dict:
    """A TradeGecko variant with stock at location 159 only."""
    return {
        "id": variant_id,
        "sku": sku,
        "updated_at": updated,
        "locations": [{"location_id": 159, "stock_on_hand": str(stock)}],
    }


def paged_account(settings, make_account, location_code: str):
    """An account from ``make_account`` tried once per call, its listing
    read two records a page, its stock location active here."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 2
    account = make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    LocationFactory(code=location_code, active=True)
    return account


def synced_levels() -> dict[str, int]:
    return dict(StockLevel.objects.values_list("sku", "on_hand"))
