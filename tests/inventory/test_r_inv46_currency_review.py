"""r-inv46: the way out a ``currency_mismatch`` names is a way out.

NetSuite holds our order (keyed under our external id) in another currency:
the refusal tells staff to correct the order's currency in NetSuite "or cancel
it there", then send the order again. Sent again, the order NetSuite holds is
read by external id (never upserted over). Closed there (orderStatus H) or
rejected (C), it is an order nobody will receive or pay: it is recorded
cancelled, not refused for its currency for ever (our order cannot be
cancelled here, and its external id stays taken in NetSuite)."""

import pytest
import responses

from tests.inventory.netsuite_currency import (
    USD_ID,
    account_with,
    mismatch,
    one_attempt,  # noqa: F401 (a fixture, used by name)
    send,
    sent_held_in,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_attempt")]


@pytest.mark.parametrize("closed", [("H", "Closed"), ("C", "Rejected by Supervisor")])
def test_an_order_cancelled_in_netsuite_as_the_refusal_says_is_recorded_cancelled(
    closed,
):
    account = account_with()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        held, puts, (order, error) = sent_held_in(rsps, USD_ID, account)
        assert error is not None
        mismatch(order, USD_ID)
        assert "cancel it there" in order.last_error
        # Staff cancel it in NetSuite, as told, and send it again.
        held["orderStatus"] = {"id": closed[0], "refName": closed[1]}
        again, error = send(account, order)
    assert error is None, again.last_error
    assert len(puts) == 1  # read by external id, never upserted over
    assert again.status == "cancelled" and again.last_error == ""
    assert again.external_reference == held["id"]


def test_an_open_order_still_in_another_currency_stays_a_mismatch():
    # Anything but cancelled (pending approval, pending receipt, received)
    # is still refused until its currency is corrected.
    account = account_with()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        held, _, (order, _) = sent_held_in(rsps, USD_ID, account)
        for code in ("A", "B", "F"):
            held["orderStatus"] = {"id": code, "refName": code}
            order, error = send(account, order)
            assert error is not None
            mismatch(order, USD_ID)
    assert order.external_reference == ""
