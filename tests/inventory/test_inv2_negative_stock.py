"""Negative on-hand figures from an ERP. NetSuite allows them by setting
("Allow Negative Inventory", Accounting Preferences: items fulfilled before
they are received), as do TradeGecko (negative stock reported as it is) and
most ERPs: it is the ERP's backlog, not units we held and cannot give. The
figure is kept as the ERP sent it; available to sell is 0, nothing is
reserved against it, and oversold means only our own holds that no unit
covers."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import Event
from inventory import services
from inventory.models import StockLevel
from inventory.providers.base import StockLevelRecord
from inventory.services import InsufficientStock, LineRequest
from tests.factories import ApiKeyFactory
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


def _apply(sku: str, on_hand: int) -> None:
    services.stock_levels_apply(
        account=None,
        records=[StockLevelRecord(sku, "MAIN", on_hand, timezone.now())],
        now=timezone.now(),
    )


def _stock(sku: str) -> dict:
    key = ApiKeyFactory(scopes=["inventory:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    (row,) = client.get(f"/api/v1/inventory/stock/?sku={sku}").json()["results"]
    return row


def _oversold_events() -> int:
    return Event.objects.filter(name=services.OVERSOLD).count()


@pytest.mark.parametrize("existing", [True, False])
def test_a_negative_figure_is_kept_and_is_out_of_stock_not_oversold(existing):
    if existing:
        StockLevelFactory(sku="NEG", on_hand=4, erp_modified_at=None)
    else:
        LocationFactory(code="MAIN")  # a new ERP location starts switched off
    _apply("NEG", -5)

    level = StockLevel.objects.get(sku="NEG")
    assert (level.on_hand, level.reserved, level.state) == (-5, 0, "out_of_stock")
    row = _stock("NEG")
    assert (row["on_hand"], row["available"], row["oversold_by"]) == (-5, 0, 0)
    assert row["state"] == "out_of_stock"
    assert _oversold_events() == 0


def test_no_reservation_is_granted_against_a_negative_figure():
    StockLevelFactory(sku="NEG", on_hand=-5)
    with pytest.raises(InsufficientStock) as caught:
        services.reservation_create(order_id="o1", lines=[LineRequest("NEG", 1)])
    assert caught.value.available == 0
    assert StockLevel.objects.get(sku="NEG").reserved == 0


def test_our_holds_on_a_level_gone_negative_are_oversold_by_their_units_alone():
    """3 units held here, then the ERP says -5: our 3 are short (not 8, the
    ERP's own backlog is not ours); released, the level is out of stock."""
    StockLevelFactory(sku="NEG", on_hand=5)
    reservation = services.reservation_create(
        order_id="o1", lines=[LineRequest("NEG", 3)]
    )
    _apply("NEG", -5)

    level = StockLevel.objects.get(sku="NEG")
    assert (level.state, level.oversold_by) == ("oversold", 3)
    assert _stock("NEG")["oversold_by"] == 3
    (event,) = Event.objects.filter(name=services.OVERSOLD)
    assert event.payload["oversold_by"] == 3

    services.reservation_release(reservation=reservation)
    level.refresh_from_db()
    assert (level.on_hand, level.reserved, level.state) == (-5, 0, "out_of_stock")


def test_a_level_with_expired_holds_gone_negative_is_out_of_stock():
    StockLevelFactory(sku="NEG", on_hand=5)
    past = timezone.now() - timedelta(hours=1)
    services.reservation_create(
        order_id="o1", lines=[LineRequest("NEG", 2)], ttl_seconds=60, now=past
    )
    _apply("NEG", -1)

    assert StockLevel.objects.get(sku="NEG").state == "out_of_stock"
    row = _stock("NEG")
    assert (row["available"], row["oversold_by"]) == (0, 0)
