"""TradeGecko documents the variant's own ``sellable`` ("Tells whether can
be added to sales orders", tradegecko/smaug locales/variant.en.yml): the
ERP's off-sale switch for one variant, its product active. Such a variant
was sold here as live stock, though TradeGecko refuses it on the sales
order the shop's sale becomes. It is off sale as a disabled product's
variant is (0 here, units sold here kept booked), never gone; sellable
again, its stock comes back on the next read."""

import pytest

from inventory.models import SyncStatus
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import paged_account, synced_levels
from tests.inventory.test_inv20b_archived import _deliver, _levels, _read_back, _stocked
from tests.inventory.test_inv20b_archived import account as archived_account
from tests.inventory.test_revinv20_restored_variant import SoftDeletingGecko, _variant

pytestmark = pytest.mark.django_db

account = archived_account  # the webhook account (slug "gecko")

OFF_AT = "2026-12-01T09:00:00.000Z"


@pytest.mark.parametrize("sellable", [False, "false"])
def test_a_variant_not_sellable_read_back_is_not_sold(account, sellable):
    _stocked(account)

    row = _deliver("variant.update", _read_back(sellable=sellable, updated_at=OFF_AT))

    assert (row.status, row.note) == ("processed", "")
    assert set(_levels().values()) == {0}


def test_sellable_again_its_stock_comes_back(account):
    _stocked(account)
    _deliver("variant.update", _read_back(sellable=False, updated_at=OFF_AT))

    _deliver("variant.update", _read_back(sellable=True, updated_at=OFF_AT))

    levels = _levels()
    assert (levels["159"], levels["160"]) == (202, 98)


@pytest.fixture
def paged(settings):
    return paged_account(settings, tg.make_account, "159")


def test_a_full_run_lists_a_variant_not_sellable_at_zero_not_gone(paged):
    gecko = SoftDeletingGecko([_variant(10, "A"), _variant(20, "B"), _variant(30, "C")])
    gecko.sync(paged, full=True)
    gecko.variants[1]["sellable"] = False

    run = gecko.sync(paged, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    assert synced_levels() == {"A": 6, "B": 0, "C": 6}
    assert not [e for e in run.errors if e["code"] == "gone_at_erp"]
