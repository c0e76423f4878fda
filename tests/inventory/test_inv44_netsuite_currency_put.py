"""When NetSuite refuses the purchase order's currency field itself, and when
the kept answer "send without the currency" has gone stale.

The upsert PUT can be refused for its ``currency`` field even though the
currency look-up answered an id: a role that may not set the field, or an
account without Multiple Currencies, gets "You do not have permissions to set
a value for element currency due to one of the following reasons: 1) The field
is read-only; 2) An associated feature is disabled; ...", the error's
``o:errorPath`` naming the field ("Error Handling in REST Web Services"). An
account stating its one currency equal to the order's is sent again once
without the field, by the same external id (an upsert: one order); any other
is refused for staff with a code that says so. Which refusals name the
order's field (and which a line's): test_inv45_netsuite_currency_checks.

An account that states its one currency keeps "sent without the field" an
hour. After it turns Multiple Currencies on, the order read back carries a
currency reference: that answer drops the kept one, the currency is looked up
again and the order in hand is upserted again with it (inv45, with NetSuite
applying or leaving that update)."""

import pytest
import responses

from tests.inventory.netsuite_currency import (
    EUR_ID,
    NetSuite,
    account_with,
    currency_queries,
    eur_listed,
    field_refusal,
    multiple_currencies_on,
    one_attempt,  # noqa: F401 (a fixture, used by name)
    refused_look_up,
    send,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_attempt")]


def test_a_single_currency_account_is_sent_again_without_the_field_once():
    # The next order goes without it at once (kept as a refused look-up).
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        erp = NetSuite(rsps, refuse=field_refusal())
        account = account_with({"single_currency": "EUR"})
        order, error = send(account)
        first = list(erp.puts)
        later, _ = send(account)
    assert error is None
    assert [body.get("currency") for body in erp.bodies()] == [
        {"id": EUR_ID},
        None,
        None,
    ]
    # The same external id both times: NetSuite's upsert, one order.
    assert len({url for url, _ in first}) == 1
    assert order.status == later.status == "confirmed" and order.last_error == ""


def test_without_single_currency_a_refused_field_is_stored_for_staff():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        erp = NetSuite(rsps, refuse=field_refusal())
        order, error = send(account_with())
    assert error is not None and len(erp.puts) == 1
    assert order.status == "draft"
    assert order.last_error.startswith("currency_not_settable: ")
    assert "single_currency" in order.last_error


def test_a_stated_other_currency_is_a_mismatch_not_sent_again():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        erp = NetSuite(rsps, refuse=field_refusal())
        order, _ = send(account_with({"single_currency": "USD"}))
    assert len(erp.puts) == 1
    assert order.last_error.startswith("currency_mismatch: ")


def test_an_order_shown_in_its_own_currency_is_not_sent_again():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        refused_look_up(rsps)
        erp = NetSuite(rsps)
        send(account)
        multiple_currencies_on(rsps)
        erp.booked = EUR_ID  # the vendor's currency is the order's
        order, _ = send(account)
    assert [body.get("currency") for body in erp.bodies()] == [None, None]
    assert order.status == "confirmed"


def test_a_record_without_currency_keeps_the_kept_answer():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        refused_look_up(rsps)
        erp = NetSuite(rsps)
        send(account)
        send(account)
        asked = currency_queries(rsps)
    assert [body.get("currency") for body in erp.bodies()] == [None, None]
    assert asked == 1
