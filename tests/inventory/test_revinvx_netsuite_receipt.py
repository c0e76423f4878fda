"""NetSuite's item time stays put when stock moves, so since h/invx the
figure alone decides whether units sold here (``sold_unseen``) are booked
there. Any figure other than the expected one was taken for the booking: a
goods receipt before the fulfilment gave the sold units back (sellable
again, though the ERP still has to ship them: oversold until it does), and
so did a fulfilment of part of them. A figure that rose shows no sale; one
that fell by n shows at most n of the units sold here."""

import pytest

from tests.inventory.test_inv5_netsuite_movements import FakeNetSuite, account
from tests.inventory.test_invx_netsuite_fulfilment import _red, _sell

pytestmark = pytest.mark.django_db

__all__ = ["account"]  # the NetSuite account fixture


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
def test_a_receipt_before_the_fulfilment_gives_no_sold_unit_back(
    account, full, django_capture_on_commit_callbacks
):
    fake = FakeNetSuite()
    first = fake.sync(account, "--full")
    _sell(4, django_capture_on_commit_callbacks)
    assert _red() == (38, 4)
    fake.receive(501, 1, 10, at=first.started_at)  # 10 units arrive: 52 there

    fake.sync(account, *(["--full"] if full else []))

    assert _red() == (48, 4)  # 52 less the 4 sold here, not yet shipped there
    # NetSuite then fulfils the shop's order: the 4 leave, 48 there.
    fake.receive(501, 1, -4, at=first.started_at)
    fake.sync(account, *(["--full"] if full else []))
    assert _red() == (48, 0)


def test_a_fulfilment_in_parts_takes_each_part_once(
    account, django_capture_on_commit_callbacks
):
    fake = FakeNetSuite()
    first = fake.sync(account, "--full")
    _sell(4, django_capture_on_commit_callbacks)

    fake.receive(501, 1, -1, at=first.started_at)  # 1 of the 4 shipped
    fake.sync(account, "--full")
    assert _red() == (38, 3)

    fake.receive(501, 1, -3, at=first.started_at)  # the other 3
    fake.sync(account, "--full")
    assert _red() == (38, 0)
