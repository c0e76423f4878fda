"""A purchase order's sent_at and updated_at, and a reservation made without
a creation time, are stamped by the database's clock, like send_tried_at and
every other inventory stamp: a sending web process whose clock is minutes
off neither dates the send nor the order's last change by its own clock
(one column stamped by two clocks ran backwards between writers)."""

from datetime import timedelta

import pytest
import responses

from integrations.clock import database_now
from integrations.errors import Unknown
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from inventory import services
from inventory.models import PurchaseOrder, Reservation
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order
from tests.inventory.test_inv4_po_key_lapsed import (  # noqa: F401
    _draft,
    _one_attempt,
    gecko_orders,
)

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off


@pytest.fixture(autouse=True)
def _two_machines() -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")


def _within(stamp, before, after) -> bool:
    return before <= stamp <= after


@pytest.mark.parametrize("seconds", [SKEW, -SKEW], ids=["fast", "slow"])
def test_a_send_is_stamped_by_the_databases_clock(gecko, seconds):
    order = _draft()
    account = tg.make_account()
    before = database_now()
    with whole_machine_clock(seconds):
        services.purchase_order_send(purchase_order=order, account=account)
    after = database_now()

    order.refresh_from_db()
    assert order.status == "sent"
    assert _within(order.sent_at, before, after)
    assert _within(order.updated_at, before, after)


@pytest.mark.parametrize("seconds", [SKEW, -SKEW], ids=["fast", "slow"])
def test_a_failed_send_and_a_refresh_stamp_updated_at_by_the_database(
    gecko,
    seconds,
):
    order = _draft()
    gecko.lose = 1
    before = database_now()
    with whole_machine_clock(seconds), pytest.raises(Unknown):
        services.purchase_order_send(purchase_order=order, account=tg.make_account())
    order.refresh_from_db()
    assert _within(order.updated_at, before, database_now())

    sent = purchase_order(account=tg.make_account(), reference="28381")
    answer = tg.load("purchase_order_created.json")["body"]
    # In the order's currency (EUR), as a refresh compares it.
    answer["purchase_order"]["currency_id"] = tg.CURRENCY_IDS["EUR"]
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add("GET", f"{tg.BASE}/purchase_orders/28381", status=404)
        before = database_now()
        with whole_machine_clock(seconds):
            services.purchase_order_refresh(purchase_order=sent)
        sent.refresh_from_db()
        assert _within(sent.updated_at, before, database_now())
        rsps.replace("GET", f"{tg.BASE}/purchase_orders/28381", json=answer)
        before = database_now()
        with whole_machine_clock(seconds):
            services.purchase_order_refresh(purchase_order=sent)
    sent.refresh_from_db()
    assert _within(sent.updated_at, before, database_now())


@pytest.mark.parametrize("seconds", [SKEW, -SKEW], ids=["fast", "slow"])
def test_an_order_made_and_a_hold_made_without_a_time_take_the_databases(seconds):
    before = database_now()
    with whole_machine_clock(seconds):
        order = purchase_order()
        hold = Reservation.objects.create(
            order_id="o", expires_at=before + timedelta(minutes=5)
        )
    after = database_now()
    order.refresh_from_db()
    hold.refresh_from_db()
    assert _within(order.updated_at, before, after)
    assert _within(hold.created_at, before, after)
    assert isinstance(PurchaseOrder.objects.get(pk=order.pk).updated_at, type(after))
