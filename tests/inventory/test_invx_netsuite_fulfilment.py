"""NetSuite keeps no holds: units sold here wait as ``sold_unseen`` until
its figure shows them. Its row's time is the item record's
``lastmodifieddate``, which a fulfilment (or any stock movement) leaves as
it was; the fulfilment's figure already has the sale, so taking the units
off again counted them twice."""

from datetime import timedelta

import pytest

from inventory import services
from inventory.models import StockLevel
from inventory.services import LineRequest
from tests.inventory.test_inv5_netsuite_movements import FakeNetSuite, account

pytestmark = pytest.mark.django_db

__all__ = ["account"]  # the NetSuite account fixture


def _sell(units: int, capture) -> None:
    with capture(execute=False):
        sold = services.reservation_create(
            order_id="o1", lines=[LineRequest("RED", units)]
        )
        services.reservation_confirm(reservation=sold)


def _red() -> tuple[int, int]:
    level = StockLevel.objects.get(sku="RED")
    return level.on_hand, level.sold_unseen


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
def test_a_fulfilment_of_a_sale_here_is_not_taken_off_twice(
    account, full, django_capture_on_commit_callbacks
):
    fake = FakeNetSuite()
    first = fake.sync(account, "--full")
    _sell(4, django_capture_on_commit_callbacks)
    assert _red() == (38, 4)
    # NetSuite fulfils the shop's order: 4 units leave the location; the item
    # record (its lastmodifieddate) is not touched.
    fake.receive(501, 1, -4, at=first.started_at + timedelta(seconds=1))

    fake.sync(account, *(["--full"] if full else []))

    assert _red() == (38, 0)


def test_an_unmoved_figure_read_again_keeps_the_sale_off(
    account, django_capture_on_commit_callbacks
):
    fake = FakeNetSuite()
    fake.sync(account, "--full")
    _sell(4, django_capture_on_commit_callbacks)

    fake.sync(account, "--full")

    assert _red() == (38, 4)
