"""An ERP that keeps no holds and whose level time moves with its stock
(TradeGecko's variant ``updated_at``): a change after a sale here was taken
for its booking whatever the figure, so a goods receipt before the ERP
booked the sale made the sold units sellable again (oversold until it
ships them). A figure changed after the sale shows at most its fall."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services
from inventory.providers.base import StockLevelRecord
from tests.inventory.contract import harness_tradegecko
from tests.inventory.test_sold import _level, _sell, apply_path, main_location

pytestmark = pytest.mark.django_db

__all__ = ["apply_path", "main_location"]  # the fixtures of test_sold


def test_a_receipt_after_the_sale_gives_no_sold_unit_back(
    apply_path, django_capture_on_commit_callbacks
):
    erp = harness_tradegecko.make_account()
    read = timezone.now() - timedelta(hours=1)

    def apply(on_hand, modified_at):
        record = StockLevelRecord("A", "MAIN", on_hand, modified_at)
        services.stock_levels_apply(account=erp, records=[record], now=timezone.now())
        return _level()

    apply(10, read)
    _sell(4, django_capture_on_commit_callbacks)

    level = apply(20, timezone.now())  # 10 received, the sale not booked yet

    assert (level.on_hand, level.sold_unseen) == (16, 4)
    # The ERP books it: 16 there, none unseen.
    level = apply(16, timezone.now() + timedelta(seconds=1))
    assert (level.on_hand, level.sold_unseen) == (16, 0)
