"""A sync page and the storefront on one SKU at once, on PostgreSQL with a
connection each: payments confirming reservations while a page applies the
ERP's figure (which does not show those sales yet) lose no sold unit and no
level; a sync page racing new checkouts leaves every reservation counted."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from inventory import services
from inventory.models import Reservation, StockLevel
from inventory.providers.base import StockLevelRecord
from inventory.services import LineRequest
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _together(calls: list) -> list:
    gate = threading.Barrier(len(calls))

    def run(call):
        gate.wait(timeout=30)
        try:
            return call()
        except Exception as exc:  # the outcome under test
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def level():
    erp = tg.make_account()  # keeps no holds: sold units wait for its figure
    return StockLevelFactory(
        sku="A",
        location=LocationFactory(code="159"),
        on_hand=30,
        source=erp,
        erp_modified_at=timezone.now() - timedelta(hours=1),
    )


def _page(level: StockLevel, figure: int, modified):
    def apply():
        return services.stock_levels_apply(
            account=level.source,
            records=[StockLevelRecord("A", "159", figure, modified)],
            now=timezone.now(),
        )

    return apply


def test_confirms_racing_a_page_of_the_figure_before_them_lose_no_sold_unit(level):
    held = [
        services.reservation_create(order_id=f"o-{n}", lines=[LineRequest("A", 1)])
        for n in range(12)
    ]
    # The ERP's figure (5 units gone elsewhere), current before any of these
    # sales was paid.
    figure_at = timezone.now()
    confirms = [(lambda r=r: services.reservation_confirm(reservation=r)) for r in held]

    results = _together([*confirms, _page(level, 25, figure_at)])

    assert not [r for r in results if isinstance(r, Exception)], results
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (25 - 12, 0)
    assert level.sold_unseen == 12


def test_checkouts_racing_a_page_that_raises_the_figure_keep_every_reservation(
    level,
):
    checkouts = [
        (
            lambda n=n: services.reservation_create(
                order_id=f"o-{n}", lines=[LineRequest("A", 2)]
            )
        )
        for n in range(12)
    ]

    results = _together([*checkouts, _page(level, 40, timezone.now())])

    # 24 units asked: the 30 before the page and the 40 after both hold them.
    made = [r for r in results if isinstance(r, Reservation)]
    assert len(made) == 12, results
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (40, 24)


@pytest.mark.parametrize("rounds", [6])
def test_an_older_page_racing_a_newer_webhook_never_overwrites_it(level, rounds):
    # A sync page read before the ERP's last change and that change's webhook
    # apply at once, from two connections: the newer figure stands.
    base = timezone.now()
    for n in range(rounds):
        older = base + timedelta(seconds=2 * n)
        newer = older + timedelta(seconds=1)
        calls = [_page(level, 100 + n, older), _page(level, 200 + n, newer)]
        results = _together(calls if n % 2 else calls[::-1])
        assert not [r for r in results if isinstance(r, Exception)], results
        level.refresh_from_db()
        assert (level.on_hand, level.erp_modified_at) == (200 + n, newer)
