"""An archived (soft-deleted) TradeGecko variant read back by a webhook was
applied as an ERP figure of 0: a fall by every unit, so the units sold here
that TradeGecko's figure did not show yet (``sold_unseen``) were taken as
booked and forgotten. Restored with the same figure (TradeGecko had not
booked them), they were sellable again: sold twice. Read back archived, the
level is off sale as a disabled product's is (``for_sale`` False), as the
full listing's "gone" path leaves them: on both apply paths."""

from types import SimpleNamespace

import pytest
from django.db import connection

from inventory import services
from inventory.models import StockLevel
from inventory.services import LineRequest
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import paged_account
from tests.inventory.test_inv20b_archived import VARIANT, _deliver, _levels, _read_back
from tests.inventory.test_inv20b_archived import account as archived_account
from tests.inventory.test_revinv20_restored_variant import SoftDeletingGecko, _variant
from tests.inventory.test_revinv22_disabled_sold import (
    DISABLED_AT as ARCHIVED_AT,
)
from tests.inventory.test_revinv22_disabled_sold import (
    ENABLED_AT as RESTORED_AT,
)
from tests.inventory.test_revinv22_disabled_sold import (
    STOCKED_AT,
    _figure,
    _hold,
    _sell,
)
from tests.inventory.test_revinv22_disabled_sold import sold as sold_fixture

pytestmark = pytest.mark.django_db

account = archived_account  # the webhook account (slug "gecko")
sold = sold_fixture  # 202 at 159 read, 3 sold here: on hand 199, 3 unseen


@pytest.fixture(autouse=True, params=["set_based", "orm"])
def apply_path(request, monkeypatch):
    """Both apply paths: PostgreSQL's raw upsert, and the ORM's (what SQLite
    runs), forced here on PostgreSQL too."""
    if request.param == "orm":
        monkeypatch.setattr(
            "inventory.services.apply.connection", SimpleNamespace(vendor="orm")
        )
    elif connection.vendor != "postgresql":
        pytest.skip("the set-based path is PostgreSQL's")
    return request.param


def _level() -> StockLevel:
    return StockLevel.objects.get(sku=VARIANT["sku"], location__code="159")


ARCHIVED = [{"status": "archived"}, {"product_status": "archived"}]


@pytest.mark.parametrize("restored_at", [ARCHIVED_AT, RESTORED_AT])
@pytest.mark.parametrize("archived_at", [STOCKED_AT, ARCHIVED_AT])
@pytest.mark.parametrize("archived", ARCHIVED, ids=["variant", "product"])
def test_units_sold_here_are_not_sold_again_once_restored(
    sold, archived, archived_at, restored_at
):
    restored_at = max(restored_at, archived_at)
    _deliver(
        "variant.destroy",
        _read_back(**archived, updated_at=archived_at, locations=_figure(202)),
    )
    level = _level()
    assert (level.on_hand, level.sold_unseen) == (0, 3)

    restored = {key: "active" for key in archived}
    _deliver(
        "variant.update",
        _read_back(**restored, updated_at=restored_at, locations=_figure(202)),
    )

    assert _levels()["159"] == 199  # 202 less the 3 TradeGecko does not show


def test_units_booked_by_the_erp_while_archived_are_taken_once(sold):
    _deliver(
        "variant.destroy",
        _read_back(status="archived", updated_at=ARCHIVED_AT, locations=_figure(202)),
    )

    # TradeGecko booked the 3 meanwhile: its figure fell to 199.
    _deliver(
        "variant.update",
        _read_back(status="active", updated_at=RESTORED_AT, locations=_figure(199)),
    )

    assert _level().on_hand <= 199


def test_units_held_when_archived_stay_held_and_are_shown_short(sold):
    held = _hold(5)
    _deliver(
        "variant.destroy",
        _read_back(status="archived", updated_at=ARCHIVED_AT, locations=_figure(202)),
    )

    level = _level()
    held.refresh_from_db()
    assert (level.on_hand, level.reserved, level.state) == (0, 5, "oversold")
    assert (level.sold_unseen, held.status) == (3, "active")

    _deliver(
        "variant.update",
        _read_back(status="active", updated_at=RESTORED_AT, locations=_figure(202)),
    )

    level.refresh_from_db()
    assert (level.on_hand, level.reserved, level.state) == (199, 5, "in_stock")


def test_a_level_sold_beyond_the_figure_is_set_to_0_not_below(sold):
    """Off sale is 0 on hand, whatever the figure less the units sold here."""
    _sell(190)  # 9 left, 193 sold here unseen
    _deliver(
        "variant.destroy",
        _read_back(status="archived", updated_at=ARCHIVED_AT, locations=_figure(5)),
    )

    level = _level()
    assert (level.on_hand, level.sold_unseen) == (0, 193)


@pytest.fixture
def listed(settings):
    """A, B and C listed by a full run (6 each at 159); 3 of A sold here."""
    gecko_account = paged_account(settings, tg.make_account, "159")
    gecko_account.slug = "gecko"
    gecko_account.save()
    gecko = SoftDeletingGecko([_variant(n * 10, sku) for n, sku in enumerate("ABC", 1)])
    assert gecko.sync(gecko_account, full=True).status == "succeeded"
    reservation = services.reservation_create(
        order_id="o-listed", lines=[LineRequest("A", 3, location_code="159")]
    )
    services.reservation_confirm(reservation=reservation)
    return gecko_account, gecko


def _a() -> tuple[int, int, str]:
    level = StockLevel.objects.get(sku="A")
    return level.on_hand, level.sold_unseen, level.state


@pytest.mark.parametrize("read", ["full listing", "webhook"])
def test_archived_by_webhook_or_gone_from_the_listing_keeps_them_alike(listed, read):
    gecko_account, gecko = listed
    assert _a() == (3, 3, "low")
    gecko.set_status("A", "archived")
    if read == "webhook":
        archived = next(v for v in gecko.variants if v["sku"] == "A")
        _deliver("variant.destroy", {"variant": archived}, object_id=archived["id"])
    else:
        run = gecko.sync(gecko_account, full=True)
        assert "gone_at_erp" in [e["code"] for e in run.errors]
    assert _a() == (0, 3, "out_of_stock")

    gecko.set_status("A", "active")  # restored, its figure still 6
    gecko.sync(gecko_account, full=True)

    assert _a() == (3, 3, "low")
