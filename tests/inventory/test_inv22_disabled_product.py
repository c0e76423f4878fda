"""A TradeGecko product is 'active', 'disabled' or 'archived'
(tradegecko/smaug, product.status). Archived is a soft deletion; disabled
is not: the variant stays listed (its own status 'active') and keeps its
stock records at TradeGecko, but the ERP has taken the product off sale.
The shop must not sell its units (its levels read as 0 wherever it names
them, by webhook read-back, full and incremental runs alike), and must not
lose them either: enabled again, the next read brings its stock back, even
when the variant's own ``updated_at`` did not move (the product changed,
not the variant). A disabled variant is never noted gone."""

import pytest

from inventory.models import SyncStatus
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import paged_account, synced_levels
from tests.inventory.test_inv20b_archived import (
    VARIANT,
    _deliver,
    _levels,
    _read_back,
    _stocked,
)
from tests.inventory.test_inv20b_archived import account as archived_account
from tests.inventory.test_revinv20_restored_variant import SoftDeletingGecko, _variant

pytestmark = pytest.mark.django_db

account = archived_account  # the webhook account (slug "gecko")

DISABLED_AT = "2026-12-01T09:00:00.000Z"


@pytest.mark.parametrize("event", ["variant.update", "variant.stock_level_update"])
def test_a_variant_of_a_disabled_product_read_back_is_not_sold(account, event):
    """Disabled at TradeGecko, the variant still shows 202 at 159 and 98 at
    160: applied as they are, the shop sells a product the ERP took off
    sale."""
    _stocked(account)

    row = _deliver(event, _read_back(product_status="disabled", updated_at=DISABLED_AT))

    assert (row.status, row.note) == ("processed", "")
    levels = _levels()
    assert (levels["159"], levels["160"]) == (0, 0)
    assert set(levels.values()) == {0}


def test_a_product_enabled_again_brings_its_stock_back_on_the_next_read(account):
    # Enabling the product need not touch the variant: same updated_at.
    _stocked(account)
    _deliver(
        "variant.update", _read_back(product_status="disabled", updated_at=DISABLED_AT)
    )
    assert set(_levels().values()) == {0}

    row = _deliver(
        "variant.update", _read_back(product_status="active", updated_at=DISABLED_AT)
    )

    assert (row.status, row.note) == ("processed", "")
    levels = _levels()
    assert (levels["159"], levels["160"]) == (202, 98)


def test_a_disabled_variant_naming_no_location_is_not_noted_gone(account):
    _stocked(account)

    row = _deliver(
        "variant.update",
        _read_back(product_status="disabled", updated_at=DISABLED_AT, locations=[]),
    )

    assert (row.status, row.note) == ("processed", "")
    assert f"variant {VARIANT['id']}" not in row.note


@pytest.fixture
def paged(settings):
    return paged_account(settings, tg.make_account, "159")


@pytest.mark.parametrize("full", [True, False])
def test_a_run_lists_a_disabled_product_at_zero_not_gone(paged, full):
    gecko = SoftDeletingGecko([_variant(10, "A"), _variant(20, "B"), _variant(30, "C")])
    gecko.sync(paged, full=True)
    gecko.variants[1]["product_status"] = "disabled"

    run = gecko.sync(paged, full=full)

    assert run.status == SyncStatus.SUCCEEDED
    assert synced_levels() == {"A": 6, "B": 0, "C": 6}
    assert not [e for e in run.errors if e["code"] == "gone_at_erp"]


def test_a_full_run_after_enabling_again_brings_the_stock_back(paged):
    gecko = SoftDeletingGecko([_variant(10, "A"), _variant(20, "B"), _variant(30, "C")])
    gecko.variants[1]["product_status"] = "disabled"
    gecko.sync(paged, full=True)
    assert synced_levels() == {"A": 6, "B": 0, "C": 6}

    gecko.variants[1]["product_status"] = "active"
    run = gecko.sync(paged, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    assert synced_levels() == {"A": 6, "B": 6, "C": 6}
