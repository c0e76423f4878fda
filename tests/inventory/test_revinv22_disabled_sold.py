"""A variant of a disabled TradeGecko product is read as 0 (inv22), but
through the path of an ERP figure: a figure of 0 "fell" by every unit, so
the units sold here that TradeGecko's figure did not show yet
(``sold_unseen``: it keeps no holds) were booked as shown by it and
forgotten. Enabled again with the same figure (TradeGecko had not booked
them), the level showed them sellable again: sold twice. Units held here
meanwhile: the level is out of stock to new sales, its holds kept (oversold
and announced, as for a variant gone)."""

import pytest
from django.utils import timezone

from inventory import services
from inventory.models import StockLevel
from inventory.services import LineRequest
from tests.inventory.test_inv20b_archived import (
    VARIANT,
    _deliver,
    _levels,
    _read_back,
    _stocked,
)
from tests.inventory.test_inv20b_archived import account as archived_account

pytestmark = pytest.mark.django_db

account = archived_account  # the webhook account (slug "gecko")

STOCKED_AT = "2026-12-01T08:00:00.000Z"
DISABLED_AT = "2026-12-01T09:00:00.000Z"
ENABLED_AT = "2026-12-01T10:00:00.000Z"


def _sell(units: int) -> None:
    reservation = services.reservation_create(
        order_id=f"o-{timezone.now().timestamp()}",
        lines=[LineRequest(VARIANT["sku"], units, location_code="159")],
    )
    services.reservation_confirm(reservation=reservation)


def _hold(units: int):
    return services.reservation_create(
        order_id=f"h-{timezone.now().timestamp()}",
        lines=[LineRequest(VARIANT["sku"], units, location_code="159")],
        ttl_seconds=3600,
    )


def _figure(stock: int) -> list[dict]:
    return [
        {**row, "stock_on_hand": str(stock)} if row["location_id"] == 159 else row
        for row in VARIANT["locations"]
    ]


@pytest.fixture
def sold(account):
    """202 at 159 read; 3 sold here, not yet in TradeGecko's figure."""
    _stocked(account)
    _deliver(
        "variant.update", _read_back(updated_at=STOCKED_AT, locations=_figure(202))
    )
    _sell(3)
    level = StockLevel.objects.get(sku=VARIANT["sku"], location__code="159")
    assert (level.on_hand, level.sold_unseen) == (199, 3)


@pytest.mark.parametrize("enabled_at", [DISABLED_AT, ENABLED_AT])
@pytest.mark.parametrize("disabled_at", [STOCKED_AT, DISABLED_AT])
def test_units_sold_here_are_not_sold_again_once_enabled(sold, disabled_at, enabled_at):
    # Disabling the product need not touch the variant's updated_at.
    enabled_at = max(enabled_at, disabled_at)
    disabled = _read_back(
        product_status="disabled", updated_at=disabled_at, locations=_figure(202)
    )
    _deliver("variant.update", disabled)
    assert _levels()["159"] == 0

    enabled = _read_back(
        product_status="active", updated_at=enabled_at, locations=_figure(202)
    )
    _deliver("variant.update", enabled)

    assert _levels()["159"] == 199  # 202 less the 3 TradeGecko does not show


def test_units_booked_by_the_erp_while_disabled_are_taken_once(sold):
    _deliver(
        "variant.update",
        _read_back(
            product_status="disabled", updated_at=DISABLED_AT, locations=_figure(202)
        ),
    )

    # TradeGecko booked the 3 meanwhile: its figure fell to 199.
    enabled = _read_back(
        product_status="active", updated_at=ENABLED_AT, locations=_figure(199)
    )
    _deliver("variant.update", enabled)

    level = StockLevel.objects.get(sku=VARIANT["sku"], location__code="159")
    assert level.on_hand <= 199


def test_units_held_when_disabled_stay_held_and_are_shown_short(sold):
    held = _hold(5)
    _deliver(
        "variant.update",
        _read_back(
            product_status="disabled", updated_at=DISABLED_AT, locations=_figure(202)
        ),
    )

    level = StockLevel.objects.get(sku=VARIANT["sku"], location__code="159")
    held.refresh_from_db()
    assert (level.on_hand, level.reserved, level.state) == (0, 5, "oversold")
    assert held.status == "active"
    with pytest.raises(services.InsufficientStock):
        _hold(1)

    _deliver(
        "variant.update",
        _read_back(
            product_status="active", updated_at=ENABLED_AT, locations=_figure(202)
        ),
    )

    level.refresh_from_db()
    assert (level.on_hand, level.reserved, level.state) == (199, 5, "in_stock")
