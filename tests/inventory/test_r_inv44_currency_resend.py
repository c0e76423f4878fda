"""An order NetSuite books in another currency than its own is never taken
for a confirmed one.

When the upsert PUT refuses the ``currency`` field although the look-up
answered the order's currency record (a multi-currency account whose role may
not set the field), the order sent again without it is booked in the
vendor's currency. The read-back shows which: another record than the one
looked up is an order in the wrong currency, refused for staff
(``currency_mismatch``), and nothing "send without" is kept for the next
orders. The same holds when an order found in another currency cannot be
upserted again with its own (the field refused there too)."""

import pytest
import responses

from tests.inventory.netsuite_currency import (
    EUR_ID,
    USD_ID,
    NetSuite,
    account_with,
    eur_listed,
    one_attempt,  # noqa: F401 (a fixture, used by name)
    send,
)
from tests.inventory.netsuite_currency import field_refusal as _field_refused

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_attempt")]


def test_sent_again_without_the_field_and_booked_in_another_currency():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        erp = NetSuite(rsps, refuse=_field_refused(), booked=USD_ID)
        first, error = send(account)
        second, _ = send(account)
    assert error is not None
    for order in (first, second):
        assert order.status != "confirmed"
        assert order.last_error.startswith("currency_mismatch: "), order.last_error
        assert f"currency record {USD_ID}" in order.last_error
    # Nothing kept: the second order is tried with its currency again.
    assert [body.get("currency") for body in erp.bodies()] == [
        {"id": EUR_ID},
        None,
        {"id": EUR_ID},
        None,
    ]


def test_sent_again_without_the_field_and_booked_in_its_own_currency():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        erp = NetSuite(rsps, refuse=_field_refused(), booked=EUR_ID)
        first, error = send(account)
        second, _ = send(account)
    assert error is None
    assert first.status == second.status == "confirmed"
    # Kept: the second order goes without the field at once.
    assert [body.get("currency") for body in erp.bodies()] == [
        {"id": EUR_ID},
        None,
        None,
    ]


def test_an_order_found_in_another_currency_that_cannot_be_put_in_its_own():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        erp = NetSuite(rsps, refuse=_field_refused(), booked=EUR_ID)
        first, _ = send(account)  # kept: sent without, booked in EUR
        erp.booked = USD_ID  # another vendor's currency
        second, error = send(account)
    assert first.status == "confirmed"
    assert error is not None and second.status != "confirmed"
    assert second.last_error.startswith("currency_mismatch: "), second.last_error
    assert f"currency record {USD_ID}" in second.last_error
