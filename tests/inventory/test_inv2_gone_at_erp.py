"""A TradeGecko variant deleted at TradeGecko. Its ``variant.destroy``
webhook names only the variant id, and the read-back answers 404 (the
variant is gone, with its SKU): nothing can be applied from it. What tells
us is the next full sync, which lists every variant: a SKU this account
reported before and its complete listing no longer has is gone at the ERP.
Its levels go to 0 on hand (reservations kept: units held there are short,
so the level is oversold and announced), and the run names each one for
staff (``gone_at_erp``). A listing that was not read whole (a failed page,
an incremental run) proves nothing and changes nothing."""

import contextlib
import io

import pytest
import responses
from django.core.management import CommandError, call_command

from inventory import services
from inventory.models import StockLevel, SyncRun
from inventory.services import LineRequest
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory

pytestmark = pytest.mark.django_db


def _variant(sku: str, stock: str, variant_id: int) -> dict:
    return {
        "id": variant_id,
        "sku": sku,
        "updated_at": "2026-12-04T09:30:00.000Z",
        "locations": [
            {"location_id": 159, "stock_on_hand": stock, "committed": "0"},
            {"location_id": 160, "stock_on_hand": stock, "committed": "0"},
        ],
    }


KEEP, GONE = _variant("KEEP", "4", 1), _variant("GONE", "5", 2)


def _sync(account, variants, *args: str, status: int = 200) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        if status == 200:
            body = {"variants": variants, "meta": {"total": len(variants)}}
            rsps.get(tg.VARIANTS, json=body)
        else:
            rsps.get(tg.VARIANTS, status=status, json={"message": "Bad Request"})
        # A run with a failed page ends the command with exit status 1.
        with contextlib.suppress(CommandError):
            call_command(
                "sync_inventory", "--account", account.slug, *args, stdout=io.StringIO()
            )


@pytest.fixture
def account():
    account = tg.make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    LocationFactory(code="159", active=True)
    LocationFactory(code="160", active=True)
    _sync(account, [KEEP, GONE], "--full")
    assert StockLevel.objects.filter(sku="GONE", on_hand=5).count() == 2
    return account


def _gone_levels() -> list[int]:
    levels = StockLevel.objects.filter(sku="GONE")
    return sorted(levels.values_list("on_hand", flat=True))


def test_a_variant_missing_from_a_full_listing_goes_to_zero_for_staff_to_see(
    account,
):
    _sync(account, [KEEP], "--full")

    run = SyncRun.objects.latest("pk")
    assert run.status == "succeeded"
    assert _gone_levels() == [0, 0]
    assert set(
        StockLevel.objects.filter(sku="GONE").values_list("state", flat=True)
    ) == {"out_of_stock"}
    assert set(
        StockLevel.objects.filter(sku="KEEP").values_list("on_hand", flat=True)
    ) == {4}
    gone = [e for e in run.errors if e["code"] == "gone_at_erp"]
    assert sorted((e["sku"], e["location"]) for e in gone) == [
        ("GONE", "159"),
        ("GONE", "160"),
    ]


def test_units_held_on_a_gone_variant_show_as_oversold(account):
    services.reservation_create(
        order_id="o1", lines=[LineRequest("GONE", 2, location_code="159")]
    )
    _sync(account, [KEEP], "--full")

    level = StockLevel.objects.get(sku="GONE", location__code="159")
    assert (level.on_hand, level.reserved, level.state) == (0, 2, "oversold")
    from integrations.models import Event

    assert Event.objects.filter(name=services.OVERSOLD, subject="GONE").exists()


def test_an_incremental_run_that_does_not_list_it_changes_nothing(account):
    _sync(account, [KEEP])

    assert _gone_levels() == [5, 5]


def test_a_full_run_with_a_failed_page_changes_nothing(account):
    _sync(account, [], "--full", status=400)

    assert SyncRun.objects.latest("pk").status != "succeeded"
    assert _gone_levels() == [5, 5]


def test_a_variant_that_comes_back_is_synced_again(account):
    _sync(account, [KEEP], "--full")
    _sync(account, [KEEP, _variant("GONE", "3", 2)], "--full")

    assert _gone_levels() == [3, 3]
