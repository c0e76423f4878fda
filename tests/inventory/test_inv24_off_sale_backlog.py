"""An off-sale spell (archived, or its product disabled: ``for_sale``
False) stored the level at 0 on hand, whatever it was. The next figure is
compared with the level's expected ERP figure, on hand + unsent + unseen:
from 0 that is the units sold here alone. Off a level whose ERP figure was
already below those units (a figure current before our sales: a backlog,
on hand below 0), it erred high: the figure seen again, unchanged, "fell"
below that sum and booked units TradeGecko had not shipped; the next
receipt made them sellable again (oversold). The spell now keeps a backlog
as it was (0 or below: nothing sellable either way); from a level above 0
the comparison still errs low (books fewer), never high. Both apply
paths, webhook read-backs of TradeGecko's recorded variant."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import StockLevel
from tests.inventory.test_inv20b_archived import VARIANT, _deliver, _read_back
from tests.inventory.test_inv23_archived_sold import account as webhook_account
from tests.inventory.test_inv23_archived_sold import apply_path, listed
from tests.inventory.test_revinv22_disabled_sold import DISABLED_AT, _figure, _sell
from tests.inventory.test_revinv22_disabled_sold import sold as sold_fixture

pytestmark = pytest.mark.django_db

account = webhook_account  # the webhook account (slug "gecko")
sold = sold_fixture  # 202 at 159 read, 3 sold here: on hand 199, 3 unseen
__all__ = ["account", "apply_path", "listed", "sold"]

OFF_SALE = {
    "archived": ("variant.destroy", {"status": "archived"}, {"status": "active"}),
    "disabled": (
        "variant.update",
        {"product_status": "disabled"},
        {"product_status": "active"},
    ),
}


def _level() -> tuple[int, int]:
    level = StockLevel.objects.get(sku=VARIANT["sku"], location__code="159")
    return level.on_hand, level.sold_unseen


def _at(hours: int) -> str:
    # After the sales here (their time is now): a figure TradeGecko changed
    # after them, which may show them.
    return (timezone.now() + timedelta(hours=hours)).isoformat()


@pytest.fixture
def backlog(sold):
    """196 more sold here (199 unseen); then a figure of 50 stamped before
    those sales (TradeGecko sold 152 elsewhere first): on hand 50 - 199."""
    _sell(196)
    _deliver(
        "variant.update", _read_back(updated_at=DISABLED_AT, locations=_figure(50))
    )
    assert _level() == (-149, 199)


@pytest.mark.parametrize("spell", sorted(OFF_SALE))
def test_a_backlog_survives_an_off_sale_spell_and_no_unit_is_sold_twice(backlog, spell):
    event, off, on = OFF_SALE[spell]
    _deliver(event, _read_back(**off, updated_at=_at(1), locations=_figure(50)))
    assert _level()[0] <= 0  # nothing sellable off sale
    # On sale again, TradeGecko's figure unchanged: it shipped none of ours.
    _deliver(
        "variant.update", _read_back(**on, updated_at=_at(2), locations=_figure(50))
    )
    assert _level() == (-149, 199)

    # 200 received: 250, of which 199 are sold here and not yet shipped.
    _deliver(
        "variant.update", _read_back(**on, updated_at=_at(3), locations=_figure(250))
    )

    assert _level() == (51, 199)


@pytest.mark.parametrize("spell", sorted(OFF_SALE))
def test_a_spell_off_a_level_above_0_still_books_no_unit_it_should_not(sold, spell):
    event, off, on = OFF_SALE[spell]
    _deliver(event, _read_back(**off, updated_at=_at(1), locations=_figure(202)))
    assert _level() == (0, 3)
    # TradeGecko shipped the 3 meanwhile and took 20 elsewhere: 179.
    _deliver(
        "variant.update", _read_back(**on, updated_at=_at(2), locations=_figure(179))
    )

    on_hand, unseen = _level()
    assert on_hand + unseen == 179  # its figure, split
    assert on_hand <= 179  # never more than TradeGecko has


def test_a_backlog_gone_from_the_full_listing_and_restored_is_kept(listed):
    """The full listing's gone path set a level to 0 as an off-sale spell
    did: a backlog restored with its figure unchanged booked units sold here
    that TradeGecko had not shipped."""
    gecko_account, gecko = listed  # A: 6 listed, 3 sold here (unseen)
    a = next(v for v in gecko.variants if v["sku"] == "A")
    # A figure of 1 stamped before the sales here: on hand 1 - 3.
    a.update(locations=_figure_of(1), updated_at="2026-11-15T08:00:00.000Z")
    assert gecko.sync(gecko_account, full=True).status == "succeeded"
    assert _a() == (-2, 3)
    gecko.set_status("A", "archived")
    gecko.sync(gecko_account, full=True)
    assert _a()[0] <= 0

    gecko.set_status("A", "active")  # restored, its figure still 1
    a["updated_at"] = _at(2)
    gecko.sync(gecko_account, full=True)
    assert _a() == (-2, 3)
    a.update(locations=_figure_of(101), updated_at=_at(3))  # 100 received
    gecko.sync(gecko_account, full=True)

    assert _a() == (98, 3)


def _figure_of(stock: int) -> list[dict]:
    return [{"location_id": 159, "stock_on_hand": str(stock)}]


def _a() -> tuple[int, int]:
    level = StockLevel.objects.get(sku="A")
    return level.on_hand, level.sold_unseen
